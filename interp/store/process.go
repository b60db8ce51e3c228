package store

import (
	"os"
	"strconv"
	"strings"
)

// process identifies a running process well enough to tell it from a later
// process that reuses its PID.
type process struct {
	Host string
	PID  int
	// Start is the process start time in clock ticks since boot, from field
	// 22 of /proc/PID/stat; 0 where that is not available.
	Start int64
}

func currentProcess() process {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	pid := os.Getpid()
	return process{Host: host, PID: pid, Start: processStartTime(pid)}
}

// processStartTime returns the start time of pid from /proc/PID/stat, or 0
// when it cannot be read (no /proc, or no such process).
func processStartTime(pid int) int64 {
	fields, ok := procStatFields(pid)
	if !ok || len(fields) < 20 {
		return 0
	}
	start, err := strconv.ParseInt(fields[19], 10, 64)
	if err != nil {
		return 0
	}
	return start
}

// procStatFields returns the fields of /proc/PID/stat after the command
// name: fields[0] is the state (field 3), fields[19] the start time (field
// 22). The command name is skipped by its last ')', since it may itself
// contain spaces and parentheses.
func procStatFields(pid int) ([]string, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	text := string(data)
	end := strings.LastIndexByte(text, ')')
	if end < 0 {
		return nil, false
	}
	return strings.Fields(text[end+1:]), true
}

// isZombie reports whether /proc says pid has exited but not been reaped.
func isZombie(pid int) bool {
	fields, ok := procStatFields(pid)
	return ok && len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

// alive reports whether the process p recorded (on this host) still runs:
// its PID exists, is not a zombie, and, where both start times are known,
// started when p did.
func (p process) alive() bool {
	if p.PID <= 0 || !pidExists(p.PID) || isZombie(p.PID) {
		return false
	}
	if p.Start == 0 {
		return true
	}
	now := processStartTime(p.PID)
	return now == 0 || now == p.Start
}
