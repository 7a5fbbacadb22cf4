"""Error numbers (include/uapi/asm-generic/errno-base.h).

Model functions return them negated, as the kernel does: ``return -EBUSY``.
"""

ENOENT = 2
EINTR = 4
EAGAIN = 11
ENOMEM = 12
EBUSY = 16
EEXIST = 17
EINVAL = 22

ERRNO_NAMES = {ENOENT: "ENOENT", EINTR: "EINTR", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM",
               EBUSY: "EBUSY", EEXIST: "EEXIST",
               EINVAL: "EINVAL"}


def errname(ret):
    """``-16`` -> ``"-EBUSY"`` (for labels and tables); other values as is."""
    if ret is not None and ret < 0 and -ret in ERRNO_NAMES:
        return "-" + ERRNO_NAMES[-ret]
    return str(ret)
