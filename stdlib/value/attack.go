package value

import (
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/robustness"
)

// Attack is an adversarial attack, an entry of a robustness battery.
type Attack struct {
	robustness.Attack
}

// Type returns the attack type.
func (a *Attack) Type() lang.Type { return lang.ObjectOf(lang.KindAttack) }
