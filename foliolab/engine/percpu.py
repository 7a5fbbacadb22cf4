"""Per-CPU variables (DEFINE_PER_CPU, this_cpu_ptr, per_cpu)."""

from __future__ import annotations


class PerCpu:
    __slots__ = ("m", "name", "slots")

    def __init__(self, m, name, factory):
        self.m = m
        self.name = name
        self.slots = [factory(cpu) for cpu in range(m.ncpus)]

    def __repr__(self):
        return f"PerCpu({self.name})"


def DEFINE_PER_CPU(m, name, factory):
    """``factory(cpu)`` builds the instance of each CPU."""
    return PerCpu(m, name, factory)


def this_cpu_ptr(var: PerCpu):
    """The current CPU's instance.  The caller must have preemption disabled
    (or be pinned to the CPU, as every task here is)."""
    return var.slots[var.m.current.cpu]


def per_cpu(var: PerCpu, cpu: int):
    return var.slots[cpu]


def smp_processor_id(m) -> int:
    return m.current.cpu


def for_each_online_cpu(m):
    return range(m.ncpus)
