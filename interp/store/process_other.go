//go:build !unix

package store

// pidExists cannot check processes on this platform and assumes they exist,
// so that runs are never wrongly marked Interrupted.
func pidExists(pid int) bool { return true }
