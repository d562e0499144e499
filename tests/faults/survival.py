"""The kill -9 suite's table: each fault injected and what survived it."""
from __future__ import annotations


class Survival:
    def __init__(self):
        self.rows: list[tuple[str, str, str]] = []

    def record(self, component: str, fault: str, survived: str) -> None:
        self.rows.append((component, fault, survived))

    def table(self) -> str:
        lines = ["kill -9 suite: component | fault | what survived"]
        lines += [f"  {c} | {f} | {s}" for c, f, s in self.rows]
        return "\n".join(lines)


SURVIVED = Survival()
