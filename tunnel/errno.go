package tunnel

import "syscall"

// errTooManyFiles is the accept error worth waiting out.
var errTooManyFiles error = syscall.EMFILE
