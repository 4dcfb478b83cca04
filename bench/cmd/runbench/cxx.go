package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goasio/asio/bench/cxx"
)

// cxxBuild is one build of the C++ Asio echo server (bench/cxx/asio_echo.cpp).
type cxxBuild struct {
	defines []string
	libs    []string
	uring   bool // needs liburing and Asio's io_uring backend (Asio ≥ 1.21)
}

// cxxBuilds are the C++ peers, by -impls name: the default reactor on Linux
// (epoll), and Asio's io_uring backend, which ASIO_HAS_IO_URING turns on and
// ASIO_DISABLE_EPOLL makes the default for sockets and the scheduler (the
// macros of asio/detail/config.hpp, Asio 1.21 and later).
var cxxBuilds = map[string]cxxBuild{
	"cxxasio@epoll":   {},
	"cxxasio@iouring": {defines: []string{"-DASIO_HAS_IO_URING", "-DASIO_DISABLE_EPOLL"}, libs: []string{"-luring"}, uring: true},
}

func isCxx(impl string) bool {
	base, _ := splitImpl(impl)
	return base == "cxxasio"
}

// cxxCompiler is $CXX, or g++.
func cxxCompiler() string {
	if c := os.Getenv("CXX"); c != "" {
		return c
	}
	return "g++"
}

// buildCxx compiles the C++ server for impl, or finds it already compiled
// in the cache (keyed by the source, the flags and the compiler's version),
// and checks that its backend starts on this machine. The error says why the
// impl cannot run here: no compiler, no Asio headers, no liburing, a compile
// failure, or a backend the kernel refuses.
func buildCxx(impl string) (string, error) {
	b, ok := cxxBuilds[impl]
	if !ok {
		return "", fmt.Errorf("unknown C++ build %q", impl)
	}
	cc, err := exec.LookPath(cxxCompiler())
	if err != nil {
		return "", fmt.Errorf("no C++ compiler: %s not found (apt-get install g++, or set CXX)", cxxCompiler())
	}
	ver, err := preprocess(cc, "#include <asio/version.hpp>\nASIO_VERSION\n")
	if err != nil {
		return "", errors.New("the Asio headers are missing: <asio/version.hpp> not found (apt-get install libasio-dev)")
	}
	asioVersion, _ := strconv.Atoi(lastLine(ver))
	if b.uring {
		if asioVersion < 102100 {
			return "", fmt.Errorf("the installed Asio, %s, has no io_uring backend (it came in 1.21)", versionText(asioVersion))
		}
		if _, err := preprocess(cc, "#include <liburing.h>\n"); err != nil {
			return "", errors.New("liburing is missing: <liburing.h> not found (apt-get install liburing-dev)")
		}
	}

	args := append([]string{"-std=c++17", "-O2", "-pthread"}, b.defines...)
	ccVersion, _ := exec.Command(cc, "--version").Output()
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%q\n%q\n%s\n", cxx.EchoSource, args, b.libs, ccVersion)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	dir := cxxCacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := strings.ReplaceAll(impl, "@", "-")
	bin := filepath.Join(dir, name+"-"+key)
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(os.Stderr, "runbench: compiling %s (Asio %s) into %s\n", impl, versionText(asioVersion), dir)
		src := filepath.Join(dir, name+"-"+key+".cpp")
		if err := os.WriteFile(src, []byte(cxx.EchoSource), 0o644); err != nil {
			return "", err
		}
		defer os.Remove(src)
		tmp := bin + ".tmp"
		full := append(append(args, "-o", tmp, src), b.libs...)
		if out, err := exec.Command(cc, full...).CombinedOutput(); err != nil {
			os.Remove(tmp)
			return "", fmt.Errorf("%s %s: %v\n%s", cc, strings.Join(full, " "), err, out)
		}
		if err := os.Rename(tmp, bin); err != nil {
			return "", err
		}
	}
	var stderr bytes.Buffer
	probe := exec.Command(bin, "-probe")
	probe.Stderr = &stderr
	if err := probe.Run(); err != nil {
		return "", fmt.Errorf("its io_context does not start on this machine: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return bin, nil
}

// cxxCacheDir is where compiled C++ servers are kept between runs.
func cxxCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "goasio-bench")
	}
	return filepath.Join(os.TempDir(), "goasio-bench")
}

// preprocess runs the compiler's preprocessor over src and returns its output.
func preprocess(cc, src string) (string, error) {
	cmd := exec.Command(cc, "-x", "c++", "-std=c++17", "-E", "-P", "-")
	cmd.Stdin = strings.NewReader(src)
	out, err := cmd.Output()
	return string(out), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// versionText renders ASIO_VERSION (XXYYZZ: major, minor, patch).
func versionText(v int) string {
	if v <= 0 {
		return "(unknown version)"
	}
	return fmt.Sprintf("%d.%d.%d", v/100000, v/100%1000, v%100)
}
