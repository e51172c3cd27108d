package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// memoryCgroup is a memory cgroup made for the server, with a limit, as a
// service manager sets one (systemd's MemoryMax=). Inside it the kernel
// charges the server's own memory and the page cache it reads, and reclaims
// that cache when the limit is near, so the server's resident set stays
// under the limit at the cost of reading pages again.
type memoryCgroup struct {
	dir string
	v2  bool
}

// newMemoryCgroup makes a memory cgroup with the limit: with cgroup v1 a
// child of this process's, with cgroup v2 a sibling (see ownMemoryCgroup).
// It needs write access to the memory controller.
func newMemoryCgroup(limit int64) (*memoryCgroup, error) {
	parent, v2, err := ownMemoryCgroup()
	if err != nil {
		return nil, fmt.Errorf("memory limit: %w", err)
	}
	c := &memoryCgroup{dir: filepath.Join(parent, "portal-bench-"+strconv.Itoa(os.Getpid())), v2: v2}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("memory limit: create a cgroup (needs a writable memory controller): %w", err)
	}
	limitFile := "memory.limit_in_bytes"
	if v2 {
		limitFile = "memory.max"
		_ = c.write("memory.swap.max", "0") // no swap to hide memory in; absent without swap accounting
	}
	if err := c.write(limitFile, strconv.FormatInt(limit, 10)); err != nil {
		return nil, errors.Join(fmt.Errorf("memory limit: %w", err), c.remove())
	}
	return c, nil
}

// ownMemoryCgroup finds where to make the server's cgroup: this process's
// cgroup in the v1 memory hierarchy if one is mounted, else the parent of
// its cgroup v2 group.
func ownMemoryCgroup() (dir string, v2 bool, err error) {
	cgroups, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false, err
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", false, err
	}
	return findMemoryCgroup(string(cgroups), string(mounts), func(dir string) string {
		raw, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
		return string(raw)
	})
}

// findMemoryCgroup is ownMemoryCgroup over the contents of /proc/self/cgroup
// and /proc/self/mountinfo; subtreeControl reads a v2 group's
// cgroup.subtree_control.
func findMemoryCgroup(cgroups, mountinfo string, subtreeControl func(dir string) string) (dir string, v2 bool, err error) {
	var v1Path, v2Path string
	for line := range strings.SplitSeq(strings.TrimSpace(cgroups), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2Path = parts[2]
		case containsField(parts[1], "memory"):
			v1Path = parts[2]
		}
	}
	var v1Dir, v2Dir string
	for line := range strings.SplitSeq(mountinfo, "\n") {
		// id parent major:minor root mountpoint options ... - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		root, point := f[3], f[4]
		switch {
		case g[0] == "cgroup" && containsField(g[2], "memory") && v1Path != "":
			v1Dir = filepath.Join(point, strings.TrimPrefix(v1Path, root))
		case g[0] == "cgroup2" && v2Path != "":
			v2Dir = filepath.Join(point, strings.TrimPrefix(v2Path, root))
		}
	}
	switch {
	case v1Dir != "":
		return v1Dir, false, nil
	case v2Dir != "":
		// A cgroup v2 group that holds processes (this one) cannot give
		// controllers to children, so the server's group is made beside
		// it, in the parent, which must hand out the memory controller
		// and be writable (as root, it usually is).
		parent := v2Dir
		if v2Path != "/" {
			parent = filepath.Dir(v2Dir)
		}
		if !slices.Contains(strings.Fields(subtreeControl(parent)), "memory") {
			return "", false, fmt.Errorf("cgroup v2: %s does not hand out the memory controller to its children", parent)
		}
		return parent, true, nil
	}
	return "", false, errors.New("no cgroup memory controller is mounted")
}

func containsField(commaList, name string) bool {
	for f := range strings.SplitSeq(commaList, ",") {
		if f == name {
			return true
		}
	}
	return false
}

func (c *memoryCgroup) write(file, value string) error {
	return os.WriteFile(filepath.Join(c.dir, file), []byte(value), 0o644)
}

// start starts cmd inside the cgroup, through portal-bench as launcher.
func (c *memoryCgroup) start(cmd *exec.Cmd) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd.Args = append([]string{self}, cmd.Args...)
	cmd.Args[1] = cmd.Path
	cmd.Path = self
	cmd.Env = append(cmd.Env, enterCgroupEnv+"="+filepath.Join(c.dir, "cgroup.procs"))
	return cmd.Start()
}

// launch is the launcher's side of start: it enters the cgroup and executes
// args, returning only on failure.
func launch(procs string, args []string) error {
	if len(args) == 0 {
		return errors.New("launcher: nothing to execute")
	}
	if err := os.WriteFile(procs, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("launcher: enter the cgroup: %w", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, enterCgroupEnv+"=") {
			env = append(env, kv)
		}
	}
	return syscall.Exec(args[0], args, env)
}

// mechanism names the cgroup's limit for the report.
func (c *memoryCgroup) mechanism() string {
	if c.v2 {
		return mechanismV2
	}
	return mechanismV1
}

// usage returns the cgroup's peak charge, how many times its charge hit the
// limit (and the kernel had to reclaim), and its OOM kills.
func (c *memoryCgroup) usage() (u cgroupUsage, err error) {
	read := func(file string) (string, error) {
		raw, err := os.ReadFile(filepath.Join(c.dir, file))
		return string(raw), err
	}
	peakFile, eventsFile, hitsKey := "memory.max_usage_in_bytes", "memory.oom_control", ""
	if c.v2 {
		peakFile, eventsFile, hitsKey = "memory.peak", "memory.events", "max"
	}
	raw, err := read(peakFile)
	if err != nil {
		return u, err
	}
	if u.peak, err = strconv.ParseInt(strings.TrimSpace(raw), 10, 64); err != nil {
		return u, fmt.Errorf("%s: %w", peakFile, err)
	}
	if !c.v2 {
		raw, err := read("memory.failcnt")
		if err != nil {
			return u, err
		}
		if u.hits, err = strconv.ParseInt(strings.TrimSpace(raw), 10, 64); err != nil {
			return u, fmt.Errorf("memory.failcnt: %w", err)
		}
	}
	if raw, err = read(eventsFile); err != nil {
		return u, err
	}
	return parseEvents(u, raw, eventsFile, hitsKey)
}

// remove deletes the cgroup once no process is left in it.
func (c *memoryCgroup) remove() error {
	return os.Remove(c.dir)
}

// dropCache writes each file's dirty pages and drops its pages from the page
// cache, so that a server in a memory cgroup reads them again under its own
// limit rather than using pages charged to another cgroup.
func dropCache(paths ...string) error {
	for _, p := range paths {
		f, err := os.Open(p) // fsync and fadvise need no write access
		if err != nil {
			return err
		}
		err = f.Sync()
		if err == nil {
			err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("drop %s from the page cache: %w", p, err)
		}
	}
	return nil
}

// majorFaults is how many pages the process has read from disk on a fault
// (field 12 of /proc/<pid>/stat).
func majorFaults(pid int) (int64, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	_, rest, ok := strings.Cut(string(raw), ") ") // the command name may hold spaces
	f := strings.Fields(rest)
	if !ok || len(f) < 10 {
		return 0, errors.New("/proc stat: unexpected format")
	}
	return strconv.ParseInt(f[9], 10, 64) // rest starts at field 3 (state)
}
