// Package flock takes the advisory file locks that keep a second process
// from opening the same data directory.
package flock

import "errors"

// ErrLocked reports that another process holds the lock.
var ErrLocked = errors.New("flock: locked by another process")
