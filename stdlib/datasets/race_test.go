//go:build race

package datasets

func init() { raceEnabled = true }
