"""`python -m todm_torch.torchrun ...`: torchrun, with one fix for torch 1.13 under Python 3.11.

What it is: torch.distributed.run's main, unchanged, after replacing Std.from_str (the parser of
--redirects and --tee). Under Python >= 3.11 iterating an IntFlag skips its zero member, so torch 1.13's
parser turns the default "0" into None and torchrun dies in to_map ("'NoneType' object has no attribute
'get'"), the state of Debian 12 (python3-torch 1.13, Python 3.11). Torch fixed it later; with a newer
torch call `torchrun` itself. The arguments are torchrun's.
What it is not: a launcher of its own.

    python -m todm_torch.torchrun --standalone --nproc_per_node=2 -m todm_torch.train --init ... --out RUN
"""
import re
import sys


def _patch():
    from torch.distributed.elastic.multiprocessing import api

    def from_str(cls, vm):
        if re.match(r"^[0123]$", vm):
            return cls(int(vm))
        if re.match(r"^(\d:[0123],)*(\d:[0123])$", vm):
            return {int(i): cls(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
        raise ValueError(f"{vm} does not match: <^[0123]$> or <^(\\d:[0123],)*(\\d:[0123])$>")

    api.Std.from_str = classmethod(from_str)


def main():
    _patch()
    from torch.distributed.run import main as run_main
    run_main(sys.argv[1:])


if __name__ == "__main__":
    main()
