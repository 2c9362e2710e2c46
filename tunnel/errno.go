package tunnel

import "syscall"

// errTooManyFiles is the accept error worth waiting out.
var errTooManyFiles error = syscall.EMFILE

// errRefused is what a connected UDP socket reports after an ICMP "port
// unreachable" (the service is not, or not yet, listening): not fatal for
// a UDP session.
var errRefused error = syscall.ECONNREFUSED
