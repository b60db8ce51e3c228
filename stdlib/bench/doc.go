// Package bench is mlpipe's benchmark suite against PyTorch: the workloads
// that `mlpipe bench` times, their PyTorch twins (the scripts in torch/,
// embedded in the binary), and the machinery that runs both sides
// alternately in fresh child processes and reports the ratios.
//
// # Workloads
//
// A Workload is a name, a Run function that does the work once in the
// current process and returns a Result, the file name of its PyTorch twin
// script, and the things it needs (a data set, a pipeline file). Workloads
// lists them; adding one means one small Go file here with a function
// returning its Workload, one line in Workloads, and its twin in torch/.
//
// Workloads call the same backend code a pipeline uses (backend.Init,
// NewTrainer, Step, or a whole pipeline through the interpreter); nothing is
// special-cased for benchmark shapes.
//
// # Measurement
//
// A step workload (Kind PerStep) runs Options.Warmup untimed steps, then
// times Options.Steps steps one by one with a monotonic clock and reports
// their median in milliseconds (TimeSteps, StepResult). An end-to-end
// workload (Kind EndToEnd) reports the wall time of its measured phase in
// seconds (for a pipeline, the training time its report.json records). The
// twin scripts measure the same way (torch/common.py), with
// time.perf_counter.
//
// Each measurement is one child process, so that its thread settings and
// its peak resident set size (the child's ru_maxrss) are its own. Run
// alternates the child processes of mlpipe and PyTorch, reversing the order
// on every other repeat, and summarises each side by the median, minimum
// and maximum over the repeats.
//
// The package never sets OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE: children
// inherit the caller's environment, except for the thread counts
// (GOMAXPROCS, OPENBLAS_NUM_THREADS, OMP_NUM_THREADS) that each measurement
// sets or clears.
package bench
