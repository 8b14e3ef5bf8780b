package snapshots

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"sync"
)

// Audit entries are kept compressed: a directory audit record is a kilobyte of JSON that
// repeats the same keys and values ("modifiedProperties", "Core Directory", the
// operator's app), and a tenant writes thousands a day, so stored as they came they
// would soon outweigh the snapshots. Each entry is deflated on its own (so it reads
// back alone) against a fixed dictionary of those common strings; the stored form is
// auditDeflate followed by the deflate stream. Raw JSON (first byte '{' or whitespace)
// is read as it is.

const auditDeflate = 0x01

// auditDict is part of the file format: entries written with it must always inflate,
// so it never changes. A new dictionary would get a new leading byte.
var auditDict = []byte(`{"activityDateTime":"2026-01-01T00:00:00Z","activityDisplayName":"Update user","additionalDetails":[{"key":"UserType","value":"Member"}],` +
	`"category":"UserManagement","correlationId":"00000000-0000-0000-0000-000000000000","id":"Directory_00000000-0000-0000-0000-000000000000_0",` +
	`"initiatedBy":{"app":{"appId":"00000000-0000-0000-0000-000000000000","displayName":"","servicePrincipalId":"","servicePrincipalName":""},` +
	`"user":{"displayName":"","id":"","ipAddress":"","userPrincipalName":"","userType":"Member","homeTenantId":"","homeTenantName":""}},` +
	`"loggedByService":"Core Directory","operationType":"Update","result":"success","resultReason":"",` +
	`"targetResources":[{"displayName":"","groupType":null,"id":"","modifiedProperties":[{"displayName":"Included Updated Properties","newValue":"[]","oldValue":"[]"},` +
	`{"displayName":"department","newValue":"[\"\"]","oldValue":"[]"},{"displayName":"jobTitle","newValue":"[\"\"]","oldValue":"[]"}],` +
	`"type":"User","userPrincipalName":""},{"displayName":"","groupType":"unifiedGroups","id":"","modifiedProperties":[],"type":"Group"}]}` +
	`"Add member to group""Remove member from group""Add user""Delete user""Restore user""Hard delete user""Update group""Add group""Delete group"` +
	`"GroupManagement""ApplicationManagement""RoleManagement""Policy""Add owner to group""Add app role assignment""Consent to application""lifeline recovery operator"`)

var (
	auditWriters = sync.Pool{New: func() any {
		w, _ := flate.NewWriterDict(io.Discard, flate.DefaultCompression, auditDict)
		return w
	}}
	auditReaders sync.Pool
)

func compressAudit(raw []byte) []byte {
	var buf bytes.Buffer
	buf.WriteByte(auditDeflate)
	w := auditWriters.Get().(*flate.Writer)
	w.Reset(&buf)
	w.Write(raw)
	w.Close()
	auditWriters.Put(w)
	return buf.Bytes()
}

var errBadAudit = errors.New("malformed stored audit entry")

// maxAuditEntry bounds what one stored entry may inflate to.
const maxAuditEntry = 16 << 20

func decompressAudit(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, errBadAudit
	}
	if data[0] != auditDeflate {
		return data, nil
	}
	src := bytes.NewReader(data[1:])
	var r io.ReadCloser
	if v := auditReaders.Get(); v != nil {
		r = v.(io.ReadCloser)
		if err := r.(flate.Resetter).Reset(src, auditDict); err != nil {
			return nil, err
		}
	} else {
		r = flate.NewReaderDict(src, auditDict)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxAuditEntry+1))
	auditReaders.Put(r)
	if err != nil || len(out) > maxAuditEntry {
		return nil, errBadAudit
	}
	return out, nil
}
