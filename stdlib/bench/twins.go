package bench

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

// twinFiles are the PyTorch twin scripts and their shared helpers,
// embedded so that an installed mlpipe can run them from anywhere.
//
//go:embed torch/*.py
var twinFiles embed.FS

// Twin returns the source of the twin script (or helper) called name.
func Twin(name string) ([]byte, error) {
	return twinFiles.ReadFile("torch/" + name)
}

// writeTwins writes every twin script into dir.
func writeTwins(dir string) error {
	entries, err := fs.ReadDir(twinFiles, "torch")
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := twinFiles.ReadFile("torch/" + e.Name())
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
