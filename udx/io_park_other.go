//go:build !linux

package udx

import "errors"

// Without epoll a socket's reader never parks.
func newParker(s *Socket, bc batchConn) *parker { return nil }

func (p *parker) arm() error { return errors.ErrUnsupported }

func (p *parker) unregister() {}
