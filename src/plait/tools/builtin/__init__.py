"""Plait's built-in tool providers, named as Dify names them (``time``, ``json_process``,
``maths``, ``webscraper``) and registered through the ``plait.tools`` entry points like
any plugin's. Each module's ``provider(environment)`` builds its provider."""
