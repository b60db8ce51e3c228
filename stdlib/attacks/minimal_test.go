package attacks

import "testing"

func TestSettingsLabel(t *testing.T) {
	tests := []struct {
		name     string
		settings []setting
		want     string
	}{
		{"none", nil, ""},
		{"all defaults", []setting{{"outer", 15, 15}, {"dt", 0.01, 0.01}, flag("logits", false)}, ""},
		{"one changed", []setting{{"outer", 30, 15}, {"dt", 0.01, 0.01}}, " (outer 30)"},
		{"in order", []setting{{"outer", 30, 15}, {"dt", 0.1, 0.01}, {"t", 5000, 500}}, " (outer 30, dt 0.1, t 5000)"},
		{"flag on", []setting{{"inner", 100, 500}, flag("repo prox", true)}, " (inner 100, repo prox)"},
		{"small value", []setting{{"alpha0", 1e-7, 0.1}}, " (alpha0 1e-07)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := settingsLabel(tt.settings...); got != tt.want {
				t.Errorf("settingsLabel = %q, want %q", got, tt.want)
			}
		})
	}
}
