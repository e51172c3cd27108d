package main

import "testing"

func TestFindMemoryCgroup(t *testing.T) {
	t.Parallel()
	const (
		v1Mount     = "34 25 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
		v2Mount     = "30 25 0:26 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"
		hybridV2    = "31 25 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
		cpuMount    = "35 25 0:31 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
		inContainer = "40 39 0:30 /docker/abc /sys/fs/cgroup/memory ro,relatime - cgroup cgroup rw,memory\n"
	)
	control := map[string]string{
		"/sys/fs/cgroup":                         "cpu io memory pids\n",
		"/sys/fs/cgroup/user.slice/user-0.slice": "cpu memory pids\n",
		"/sys/fs/cgroup/system.slice":            "cpu pids\n",
	}
	tests := []struct {
		name, cgroups, mounts string
		wantDir               string
		wantV2, wantErr       bool
	}{
		{"v1", "4:memory:/process_api/abc\n1:cpu:/\n", v1Mount + cpuMount, "/sys/fs/cgroup/memory/process_api/abc", false, false},
		{"hybrid prefers v1", "4:memory:/a\n0::/b\n", v1Mount + hybridV2, "/sys/fs/cgroup/memory/a", false, false},
		{"v1 in a container", "4:memory:/docker/abc\n", inContainer, "/sys/fs/cgroup/memory", false, false},
		{"v2 beside this process's group", "0::/user.slice/user-0.slice/session-1.scope\n", v2Mount,
			"/sys/fs/cgroup/user.slice/user-0.slice", true, false},
		{"v2 in the root group", "0::/\n", v2Mount, "/sys/fs/cgroup", true, false},
		{"v2 without the memory controller", "0::/system.slice/bench.service\n", v2Mount, "", false, true},
		{"no memory controller", "1:cpu:/\n", cpuMount, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, v2, err := findMemoryCgroup(tt.cgroups, tt.mounts, func(d string) string { return control[d] })
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %q, want an error", dir)
				}
				return
			}
			if err != nil || dir != tt.wantDir || v2 != tt.wantV2 {
				t.Errorf("got %q, v2 %v, %v; want %q, v2 %v", dir, v2, err, tt.wantDir, tt.wantV2)
			}
		})
	}
}
