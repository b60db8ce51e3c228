//go:build unix

package store

import (
	"errors"
	"syscall"
)

// pidExists reports whether a process with this PID exists (signal 0 checks
// without sending anything; EPERM means it exists but belongs to another
// user).
func pidExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
