"""HTTP transports: the Dify-compatible service API (``/v1``), the console API
(``/console/api``), health probes. Routes are thin: parse, one ``app`` call, respond."""
