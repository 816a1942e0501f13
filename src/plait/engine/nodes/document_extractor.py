"""Document extractor: files to text, with the knowledge pipeline's parsers.

The variable is one file (the output ``text`` is a string) or a list of files (``text`` is a
list of strings, one per file, in order). A file that cannot be read fails the node with
the parser's reason (encrypted, corrupt, empty...), so error strategies apply.
"""

from __future__ import annotations

from collections.abc import Sequence

from plait.engine.files import file_label, files_in, is_file
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.variables import MISSING, Selector, as_selector
from plait.errors import PlaitError
from plait.rag.parse import DocumentUnreadable, parse_document_async


class DocumentExtractorConfig(NodeConfig):
    variable_selector: list[str] = []
    is_array_file: bool | None = None


class DocumentExtractorNode(Node):
    node_type = "document-extractor"
    Config = DocumentExtractorConfig
    config: DocumentExtractorConfig

    def references(self) -> Sequence[Selector]:
        return [as_selector(self.config.variable_selector)] if self.config.variable_selector else []

    def output_names(self) -> Sequence[str]:
        return ["text"]

    async def run(self, ctx: NodeContext) -> NodeResult:
        value = ctx.pool.get(self.config.variable_selector)
        if value is MISSING or value is None:
            raise NodeFailed(f"{'.'.join(self.config.variable_selector)} holds no file", "DocumentExtractorError")
        single = is_file(value)
        files = files_in(value)
        if not single and not isinstance(value, list):
            raise NodeFailed("the document extractor takes a file or a list of files", "DocumentExtractorError")
        if ctx.services.files is None:
            raise NodeFailed("files cannot be read here", "DocumentExtractorError")
        texts: list[str] = []
        for file in files:
            try:
                content = await ctx.services.files.read(file)
                document = await parse_document_async(
                    content, filename=file_label(file), mime_type=file.get("mime_type")
                )
            except DocumentUnreadable as error:
                raise NodeFailed(error.message, "DocumentUnreadable") from None
            except PlaitError as error:
                raise NodeFailed(f"{file_label(file)} cannot be read: {error.message}", "FileError") from None
            texts.append(document.text)
        names = [file_label(file) for file in files]
        return NodeResult({"text": texts[0] if single else texts}, inputs={"files": names})
