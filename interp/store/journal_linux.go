//go:build linux

package store

import "syscall"

// networkFilesystems are the statfs magic numbers of file systems on which
// SQLite's WAL mode is unsafe, because its shared-memory index only works
// between processes of one host.
var networkFilesystems = map[int64]string{
	0x6969:     "nfs",
	0xff534d42: "cifs",
	0xfe534d42: "smb2",
	0x517b:     "smb",
	0x0bd00bd0: "lustre",
	0x47504653: "gpfs",
	0x19830326: "beegfs",
	0x00c36400: "ceph",
	0x65735546: "fuse",
	0x013111a8: "ibrix",
	0x5346414f: "afs",
}

// journalMode returns "WAL" for a store on a local file system and
// "DELETE" (rollback journal, which needs only POSIX locks) for one on a
// network file system, such as a cluster's shared home.
func journalMode(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "WAL"
	}
	if _, ok := networkFilesystems[int64(st.Type)&0xffffffff]; ok {
		return "DELETE"
	}
	return "WAL"
}
