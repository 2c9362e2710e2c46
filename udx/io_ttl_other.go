//go:build !unix

package udx

import "errors"

var errNoTTL = errors.New("udx: TTL control is not supported on this platform")

func (p *plainConn) setTTL(ttl int) error { return errNoTTL }

func (p *plainConn) ttl() (int, error) { return 0, errNoTTL }
