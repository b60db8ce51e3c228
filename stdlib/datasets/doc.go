// Package datasets loads labelled data sets from files into memory.
//
// A [Dataset] holds N samples as one row-major float32 matrix X (N rows of
// [Dataset.Features] values each, every row shaped by [Dataset.Shape]) and
// an int32 class label per sample in [0, Classes). Loaders:
//
//   - [Digits]: the UCI optical digits set (1797 samples, 8x8, 10 classes),
//     embedded in the binary so it works on a machine with nothing installed.
//   - [ReadIDX], [LoadIDX]: the IDX format of MNIST and Fashion-MNIST (uint8
//     images and labels), plain or gzip-compressed.
//   - [LoadFashionMNIST]: the four Fashion-MNIST files from a directory, by
//     default [DefaultFashionMNISTDir] (Debian package dataset-fashion-mnist).
//   - [ReadCSV], [LoadCSV]: numeric CSV with one label column, plain or
//     gzip-compressed.
//
// Pixel values are scaled to [0, 1]: IDX bytes are divided by 255, the
// digits' 0..16 by 16.
//
// Files are treated as untrusted. A truncated, corrupt or crafted file is
// refused with an error that names the file and, where it applies, the line
// (CSV) or header field (IDX); sizes promised by a header are checked against
// [Limits] before anything is allocated for them, and data is read in growing
// chunks so that memory use stays proportional to the bytes actually present.
// Loaders never panic on bad input. Error messages start with the file name
// (or "datasets: " when no file is involved) and wrap their causes, so
// errors.Is(err, fs.ErrNotExist) works for missing files.
//
// [Dataset.Shuffle] and [Dataset.Split] are deterministic for a seed on every
// platform: see [Dataset.Shuffle] for the exact generator.
//
// The package imports only the standard library; the rest of mlpipe wraps it.
package datasets
