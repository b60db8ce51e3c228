// Package backend trains and evaluates sequential networks (multi-layer
// perceptrons and small convolutional networks) on gorgonia. It is the only package of mlpipe that drives gorgonia: everything
// above it speaks in plain Go values (Arch, Model, Tensor, []float32 rows and
// []int32 labels).
//
// # Models
//
// An Arch is a list of layers applied in order, named like a PyTorch
// nn.Sequential: the weights of Linear layer i are "i.weight" (shape
// [out, in]) and "i.bias" (shape [out]); activation layers take an index but
// hold no tensors. Init draws weights as PyTorch's nn.Linear does.
// Convolutional networks use Conv2d (im2col and one sgemm per sample),
// BatchNorm2d (with running statistics named like PyTorch's buffers),
// MaxPool2d, GlobalAvgPool2d and Flatten; the first layer's InShape gives the [C, H, W] shape
// of the flat input rows.
//
// # BLAS
//
// Matrix products go through the BLAS chosen by UseBLAS: OpenBLAS, loaded
// at run time with dlopen (so one binary works with or without it) and
// checked against gonum's pure-Go BLAS before it is used, or gonum's pure-Go
// BLAS. Element-wise solver updates run in parallel chunks and, in cgo
// builds, Adam's update is a vectorised kernel that gives the Go
// reference's bits.
//
// # Training
//
// A Trainer compiles one float32 graph per batch size on gorgonia's
// TapeMachine when it is created (and one more, lazily, for a smaller last
// batch) and reuses it for every Step: the input and label tensors are bound
// once and each batch is copied into them. The graph is made of the
// package's own ops:
//
//   - a matrix product that owns its output and calls the BLAS gorgonia is
//     set to use (gorgonia.WhichBLAS) with transpose flags;
//   - an in-place bias add whose bias gradient is a column sum;
//   - in-place activations (a branch-free ReLU; tanh and sigmoid) whose
//     backward pass reads the activation's output;
//   - a fused, numerically stable softmax cross-entropy that writes the mean
//     loss and dL/dlogits in one pass into buffers it owns (tensor's SoftMax
//     and LogSoftMax are numerically wrong in the gorgonia version used).
//
// Besides the classifier's Trainer (NewTrainer), NewSSLTrainer minimises a
// self-supervised loss of several views of each sample, and
// NewPairedTrainer a PairedLoss of a clean and a perturbed input of each
// sample, the graph of adversarial training and of the finite-difference
// input-gradient penalty. Any Trainer may add a Regularizer of the weights
// (SetRegularizer), such as a Lipschitz bound. InputGradient gives the
// gradient of a per-sample objective with respect to the inputs, for
// attacks, from one compiled eval-mode graph reused across steps.
//
// Only the subgraph that computes the loss and the weight gradients is
// compiled, and the optimizers (PyTorch's SGD and Adam) update the weights in
// one pass per tensor, so a step allocates only the TapeMachine's own small
// bookkeeping.
//
// # Concurrency
//
// A Trainer is not safe for concurrent use; separate Trainers (and Predict
// calls) may run in separate goroutines. Building a gorgonia graph touches
// gorgonia's global state (a shared constant node and counters), so the
// package serialises graph building with one package-level mutex; running
// compiled graphs is not serialised.
//
// # Errors
//
// No panic from gorgonia escapes the package: the API functions recover and
// return an error instead. A loss that is NaN or infinite is reported as an
// error wrapping ErrNonFinite, and the weights are then left unchanged.
//
// # BLAS
//
// The package does not choose a BLAS: gorgonia's default is gonum's pure-Go
// implementation. A program that links a faster one (for example gonum's
// netlib binding to OpenBLAS) selects it with gorgonia.Use before training.
package backend
