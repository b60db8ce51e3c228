//go:build cgo

package backend

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*, int);
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);
typedef char* (*string_fn)(void);

static void call_sgemm(void* f, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
                       const float* b, int ldb, float beta, float* c, int ldc) {
	((sgemm_fn)f)(101, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
static void call_dgemm(void* f, int ta, int tb, int m, int n, int k, double alpha, const double* a, int lda,
                       const double* b, int ldb, double beta, double* c, int ldc) {
	((dgemm_fn)f)(101, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
static void call_set_threads(void* f, int n) { ((set_threads_fn)f)(n); }
static int call_get_threads(void* f) { return ((get_threads_fn)f)(); }
static const char* call_string(void* f) { return ((string_fn)f)(); }
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// openBLASLibraries are the names tried, in order, when loading OpenBLAS.
var openBLASLibraries = []string{"libopenblas.so.0", "libopenblas.so"}

// openBLAS is gonum's BLAS with the matrix products (Sgemm, Dgemm) sent to
// an OpenBLAS shared library loaded at run time with dlopen, so one binary
// runs with or without the library installed.
type openBLAS struct {
	gonum.Implementation
	library                      string
	sgemm, dgemm                 unsafe.Pointer
	setThreads_, getThreads, cfg unsafe.Pointer
	corename                     unsafe.Pointer
}

func loadOpenBLAS() (*openBLAS, error) {
	var handle unsafe.Pointer
	var lib string
	for _, name := range openBLASLibraries {
		cname := C.CString(name)
		handle = C.dlopen(cname, C.RTLD_NOW|C.RTLD_LOCAL)
		C.free(unsafe.Pointer(cname))
		if handle != nil {
			lib = name
			break
		}
	}
	if handle == nil {
		return nil, errNoOpenBLAS
	}
	sym := func(name string) unsafe.Pointer {
		cname := C.CString(name)
		defer C.free(unsafe.Pointer(cname))
		return C.dlsym(handle, cname)
	}
	ob := &openBLAS{
		library:     lib,
		sgemm:       sym("cblas_sgemm"),
		dgemm:       sym("cblas_dgemm"),
		setThreads_: sym("openblas_set_num_threads"),
		getThreads:  sym("openblas_get_num_threads"),
		cfg:         sym("openblas_get_config"),
		corename:    sym("openblas_get_corename"),
	}
	if ob.sgemm == nil || ob.dgemm == nil {
		return nil, fmt.Errorf("%s lacks cblas_sgemm or cblas_dgemm", lib)
	}
	return ob, nil
}

func (ob *openBLAS) info() BLASInfo {
	return BLASInfo{Name: BLASOpenBLAS, Library: ob.library, Config: ob.str(ob.cfg), Core: ob.core(), Threads: ob.threads()}
}

func (ob *openBLAS) str(f unsafe.Pointer) string {
	if f == nil {
		return "unknown"
	}
	return strings.TrimSpace(C.GoString(C.call_string(f)))
}

func (ob *openBLAS) core() string { return ob.str(ob.corename) }

func (ob *openBLAS) threads() int {
	if ob.getThreads == nil {
		return 0
	}
	return int(C.call_get_threads(ob.getThreads))
}

func (ob *openBLAS) setThreads(n int) {
	if ob.setThreads_ != nil {
		C.call_set_threads(ob.setThreads_, C.int(n))
	}
}

func cblasTrans(t blas.Transpose) C.int {
	if t == blas.Trans {
		return 112
	}
	return 111
}

// Sgemm computes C = alpha * op(A) * op(B) + beta * C for row-major
// float32 matrices, in OpenBLAS.
func (ob *openBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	var pa, pb *C.float
	if len(a) > 0 {
		pa = (*C.float)(unsafe.Pointer(&a[0]))
	}
	if len(b) > 0 {
		pb = (*C.float)(unsafe.Pointer(&b[0]))
	}
	C.call_sgemm(ob.sgemm, cblasTrans(tA), cblasTrans(tB), C.int(m), C.int(n), C.int(k), C.float(alpha),
		pa, C.int(lda), pb, C.int(ldb), C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.int(ldc))
}

// Dgemm computes C = alpha * op(A) * op(B) + beta * C for row-major
// float64 matrices, in OpenBLAS.
func (ob *openBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGemm(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	var pa, pb *C.double
	if len(a) > 0 {
		pa = (*C.double)(unsafe.Pointer(&a[0]))
	}
	if len(b) > 0 {
		pb = (*C.double)(unsafe.Pointer(&b[0]))
	}
	C.call_dgemm(ob.dgemm, cblasTrans(tA), cblasTrans(tB), C.int(m), C.int(n), C.int(k), C.double(alpha),
		pa, C.int(lda), pb, C.int(ldb), C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.int(ldc))
}
