"""``.. lwm2m-cli::``: the command-line reference, generated from the real parser.

The directive imports :func:`lwm2m.cli.main.build_parser` (the parser
``lwm2m`` itself runs) and writes, for the top-level command and for every
sub-command: its usage line, its description, a table of its options (flags,
argument, default, help) and the module docstring of the sub-command, which
describes its output and exit status. Nothing here is written by hand, so
the page cannot drift from the command.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
from collections.abc import Iterator
from contextlib import contextmanager

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.parsing import nested_parse_to_nodes

from ._nodes import Cell, literals, section, table

#: Width of the usage lines (argparse wraps at the terminal width).
COLUMNS = "88"


@contextmanager
def _columns(width: str) -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = width
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each sub-command, in ``--help`` order."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                out.append((name, helps.get(name, ""), sub))
    return out


def _argument(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.choices is not None:
        return "{" + ",".join(str(c) for c in action.choices) + "}"
    if action.metavar is not None:
        return (
            str(action.metavar)
            if not isinstance(action.metavar, tuple)
            else " ".join(action.metavar)
        )
    return action.dest.upper()


def _default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    default = action.default
    if default in (None, False, argparse.SUPPRESS) or action.nargs == 0 or default == []:
        return ""
    return str(default)


def _option_rows(parser: argparse.ArgumentParser) -> list[list[Cell]]:
    formatter = parser._get_formatter()
    rows: list[list[Cell]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        names = action.option_strings or [action.dest]
        help_text = formatter._expand_help(action) if action.help else ""
        if isinstance(action, argparse._AppendAction):
            help_text = f"{help_text} (repeatable)" if "repeatable" not in help_text else help_text
        argument = _argument(action)
        default = _default(action)
        rows.append(
            [
                literals(names),
                literals([argument]) if argument else "",
                literals([default]) if default and default != "required" else default,
                help_text,
            ]
        )
    return rows


class CliDirective(SphinxDirective):
    """Render the whole ``lwm2m`` command line."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from lwm2m.cli import main as cli_main

        self.env.note_reread()  # generated from code and tests: read again at every build

        with _columns(COLUMNS):
            parser = cli_main.build_parser()
            out: list[nodes.Node] = [self._command("lwm2m", parser, None)]
            for name, _help, sub in _subcommands(parser):
                module = self._module_of(name)
                out.append(self._command(f"lwm2m {name}", sub, module))
        return out

    @staticmethod
    def _module_of(name: str) -> str | None:
        module_name = name.replace("-", "_")
        from lwm2m.cli import main as cli_main

        if module_name not in cli_main.COMMAND_MODULES:
            return None
        return f"lwm2m.cli.{module_name}"

    def _command(
        self, title: str, parser: argparse.ArgumentParser, module: str | None
    ) -> nodes.section:
        sec = section(title, f"cli-{title}")
        if parser.description:
            sec += nodes.paragraph(text=parser.description)
        sec += nodes.literal_block(text=parser.format_usage().strip(), language="text")
        subs = _subcommands(parser)
        if subs:
            rows: list[list[Cell]] = [[literals([name]), text] for name, text, _ in subs]
            sec += table(["command", "what it does"], rows, [20, 80])
        sec += table(
            ["option", "argument", "default", "meaning"], _option_rows(parser), [22, 18, 14, 46]
        )
        if module is not None:
            doc = inspect.getdoc(importlib.import_module(module)) or ""
            # The first line repeats the title; the rest says what the command prints and returns.
            body = doc.split("\n", 1)[1].strip() if "\n" in doc else ""
            if body:
                source = f"{module} (docstring)"
                content = StringList(body.splitlines(), source=source)
                sec += nested_parse_to_nodes(
                    self.state, content, source=source, allow_section_headings=False
                )
        return sec
