package datasets

import (
	"bytes"
	_ "embed"
	"fmt"
)

// digitsCSV is digits/digits.csv.gz: the UCI optical digits test set as
// shipped by scikit-learn (CC BY 4.0, E. Alpaydin and C. Kaynak, UCI;
// redistributed by scikit-learn under BSD-3-Clause; see digits/README.md).
//
//go:embed digits/digits.csv.gz
var digitsCSV []byte

// DigitsSHA256 is the sha256 of the embedded digits/digits.csv.gz, in hex.
const DigitsSHA256 = "46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a"

// DigitsFile is the name the embedded digits file goes by in messages and
// data fingerprints.
const DigitsFile = "embedded:digits/digits.csv.gz"

// DigitsSize is the size in bytes of the embedded digits file.
func DigitsSize() int64 { return int64(len(digitsCSV)) }

// Digits returns the "Optical Recognition of Handwritten Digits" data set
// (E. Alpaydin, C. Kaynak, UCI; CC BY 4.0), in the copy scikit-learn ships,
// embedded in the binary: 1797 samples of 8x8 pixels (Shape [1 8 8], 64
// features) scaled from 0..16 to [0, 1], labels 0..9 (Classes 10). Each call
// parses the embedded file anew and returns a Dataset of its own.
func Digits() (*Dataset, error) {
	d, err := ReadCSV(bytes.NewReader(digitsCSV), DigitsFile, CSVOptions{
		Scale: 16,
		Shape: []int{1, 8, 8},
	})
	if err != nil {
		return nil, fmt.Errorf("datasets: embedded digits: %w", err)
	}
	d.Name = "digits"
	return d, nil
}
