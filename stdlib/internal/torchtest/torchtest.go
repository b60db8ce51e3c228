// Package torchtest lets tests run PyTorch, the peer whose file formats and
// numbers mlpipe must match: Debian's python3-torch, run with /usr/bin/python3.
package torchtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Python is the interpreter of Debian's python3-torch.
const Python = "/usr/bin/python3"

// RequireEnv names the environment variable that, set to 1 (as CI does),
// makes a missing PyTorch fail the tests that need it instead of skipping
// them.
const RequireEnv = "MLPIPE_REQUIRE_TORCH"

// Require skips t when Python or its torch module is missing, unless
// RequireEnv is 1, when it fails t instead.
func Require(t testing.TB) {
	t.Helper()
	missing := func(why string) {
		msg := why + "; install it with: apt-get install -y python3-torch"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(msg + " (" + RequireEnv + "=1 requires it)")
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(Python); err != nil {
		missing(Python + " is missing")
	}
	if out, err := exec.Command(Python, "-c", "import torch").CombinedOutput(); err != nil {
		missing("python3 cannot import torch: " + strings.TrimSpace(string(out)))
	}
}
