"""`./run_delegate_network [COMMAND] [ARGS]`: one entry point, each command owned by its package.

Each command is `module:function` taking `argv: list[str]` and returning an exit status; modules are
imported lazily so that `call` does not pay for the importer and the other way round.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("ivr.server:main", "start Valkey, the Telnyx emulator and the webhook app (default)"),
    "call": ("ivr.simulator:main", "place a simulated phone call: --from E164 [--say TEXT]... [--press D]..."),
    "generate-sample": ("data.generate_sample:main", "write an anonymized sample district (Iowa layout)"),
    "import-voters": ("voter_registry.importer:main", "import a voter file: FILE [--format iowa|ncsbe]"),
    "match": ("voter_registry.match_cli:main", "match a spoken name against the roll"),
    "import-bills": ("delegation.bills_import:main", "import bills (congress.gov v3 JSON, House XML)"),
    "tally": ("delegation.tally_cli:main", "recompute a bill's tally: --snapshot FILE"),
    "verify-audit": ("audit.verify:main", "verify and replay the public audit log"),
    "demurrage": ("money.demurrage_cli:main", "assess and distribute one demurrage period"),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command; no command means `serve`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help", "help"):
        print("usage: ./run_delegate_network [COMMAND] [ARGS]\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:16} {text}")
        return 0
    name = args.pop(0) if args and not args[0].startswith("-") else "serve"
    if name not in COMMANDS:
        print(f"unknown command {name!r}; try --help", file=sys.stderr)
        return 2
    module, func = COMMANDS[name][0].split(":")
    return int(getattr(importlib.import_module(module), func)(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
