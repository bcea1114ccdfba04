package jiraexport

import (
	"fmt"
	"hash/fnv"
	"math/bits"
	"strconv"
	"strings"
)

// The data set spans two years of two-week sprints. All times are whole
// seconds in UTC; "now" of the data set is dataNow, so responses never depend
// on the wall clock.
const (
	dataEpoch         = 1672617600 // 2023-01-02T00:00:00Z, a Monday
	dataSpan          = 730 * 86400
	dataNow           = dataEpoch + dataSpan
	sprintLen         = 14 * 86400
	sprintsPerProject = 55 // 0..52 cover the span (52 is active), 53..54 are future
)

// Hash domains: every generated attribute draws from its own stream.
const (
	domIssue uint64 = iota + 1
	domWorklog
	domUser
	domProject
)

type projectDef struct {
	key, name, category string
	weight              int // share of the issues, out of 100
}

var projectDefs = [...]projectDef{
	{"JRA", "Jira Core", "Software", 20},
	{"CONF", "Confluence", "Software", 12},
	{"BAM", "Bamboo", "Software", 6},
	{"OPS", "Operations", "Service", 10},
	{"DATA", "Data Platform", "Software", 9},
	{"MOB", "Mobile Apps", "Software", 7},
	{"WEB", "Web Frontend", "Software", 11},
	{"SEC", "Security", "Service", 4},
	{"PAY", "Payments", "Business", 8},
	{"HR", "People Systems", "Business", 3},
	{"INF", "Infrastructure", "Service", 6},
	{"QA", "Quality Assurance", "Software", 4},
}

const numProjects = len(projectDefs)

// projectWeightTable maps 0..99 to a project index.
var projectWeightTable = func() (t [100]uint8) {
	n := 0
	for p, d := range projectDefs {
		for range d.weight {
			t[n] = uint8(p)
			n++
		}
	}
	if n != 100 {
		panic("jiraexport: project weights must add up to 100")
	}
	return t
}()

var namedUsers = []string{
	"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
	"mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "wendy",
}

const generatedUsers = 30

var surnames = []string{"Anderson", "Brown", "Chen", "Dubois", "Evans", "Fischer", "García", "Hansen", "Ito", "Jensen", "Kowalski", "O'Brien"}

// fixedMembership pins the projects of alice, bob and carol so that tests can
// rely on alice and bob seeing overlapping but different sets and carol
// seeing everything. Indices into projectDefs.
var fixedMembership = map[string][]int{
	"alice": {0, 1, 4, 6, 8}, // JRA CONF DATA WEB PAY
	"bob":   {1, 3, 4},       // CONF OPS DATA
	"carol": {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
}

type userRec struct {
	id, display, email string
	active             bool
	projects           uint64 // bit p set = member of projectDefs[p]
}

// mix is the splitmix64 finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// h is the deterministic random stream of the data set: attribute field of
// row i in domain dom.
func (s *Service) h(dom, i, field uint64) uint64 {
	return mix(s.seed ^ mix(dom*0x9e3779b97f4a7c15+i*0xd1b54a32d192ed03+field*0x8cb92ba72f3d8dd7))
}

// randomProjects picks 2..5 distinct projects from the stream r.
func randomProjects(r uint64) uint64 {
	k := 2 + int(r%4)
	var mask uint64
	for j := uint64(1); bits.OnesCount64(mask) < k; j++ {
		mask |= 1 << (mix(r+j) % uint64(numProjects))
	}
	return mask
}

func maskOf(ps []int) uint64 {
	var m uint64
	for _, p := range ps {
		m |= 1 << p
	}
	return m
}

// buildUsers generates the user directory and the per-project member lists.
func (s *Service) buildUsers() {
	ids := append([]string(nil), namedUsers...)
	for i := 1; i <= generatedUsers; i++ {
		ids = append(ids, fmt.Sprintf("user%02d", i))
	}
	s.users = make([]userRec, len(ids))
	s.userIdx = make(map[string]int, len(ids))
	for i, id := range ids {
		r := s.h(domUser, uint64(i), 0)
		display := string(id[0]-'a'+'A') + id[1:] + " " + surnames[r%uint64(len(surnames))]
		if i >= len(namedUsers) {
			display = "User " + strings.TrimPrefix(id, "user")
		}
		proj := randomProjects(s.h(domUser, uint64(i), 1))
		if fixed, ok := fixedMembership[id]; ok {
			proj = maskOf(fixed)
		}
		s.users[i] = userRec{
			id: id, display: display, email: id + "@example.com",
			active: s.h(domUser, uint64(i), 2)%10 != 0 || i < 3, projects: proj,
		}
		s.userIdx[id] = i
	}
	for p := range s.members {
		s.members[p] = s.members[p][:0]
		for i, u := range s.users {
			if u.projects&(1<<p) != 0 {
				s.members[p] = append(s.members[p], int32(i))
			}
		}
	}
}

// projectsOf returns the project mask of any identity: directory users have
// theirs, unknown identities get a deterministic one derived from the name.
func (s *Service) projectsOf(user string) uint64 {
	if i, ok := s.userIdx[user]; ok {
		return s.users[i].projects
	}
	f := fnv.New64a()
	f.Write([]byte(user))
	return randomProjects(mix(s.seed ^ f.Sum64()))
}

// buildIssues assigns every issue to a project and numbers it within the
// project; it also lays out the worklogs (0..3 per issue).
func (s *Service) buildIssues(n int) {
	s.issueProj = make([]uint8, n)
	s.issueNum = make([]int32, n)
	s.counts = make([]uint8, n)
	var next [numProjects]int32
	for i := range n {
		p := projectWeightTable[s.h(domIssue, uint64(i), 0)%100]
		next[p]++
		s.issueProj[i] = p
		s.issueNum[i] = next[p]
		s.setCount(fWorklogs, i, int(s.h(domIssue, uint64(i), 1)%4))
	}
	s.projIssueCount = next
}

// issueKey formats the key of issue i, e.g. "JRA-17".
func (s *Service) issueKey(i int) string {
	p := projectDefs[s.issueProj[i]].key
	b := make([]byte, 0, len(p)+8)
	b = append(b, p...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(s.issueNum[i]), 10)
	return string(b)
}

// findIssue returns the index of the issue with the given key.
func (s *Service) findIssue(key string) (int, bool) {
	for p, d := range projectDefs {
		if len(key) <= len(d.key)+1 || key[:len(d.key)] != d.key || key[len(d.key)] != '-' {
			continue
		}
		digits := key[len(d.key)+1:]
		if digits[0] == '0' {
			return 0, false
		}
		num, err := strconv.ParseInt(digits, 10, 32)
		if err != nil || num < 1 || num > int64(s.projIssueCount[p]) {
			return 0, false
		}
		for i, ip := range s.issueProj {
			if int(ip) == p && s.issueNum[i] == int32(num) {
				return i, true
			}
		}
	}
	return 0, false
}

// worklogIssue returns the issue a worklog belongs to.
func (s *Service) worklogIssue(j int) int { return s.owner(fWorklogs, j) }

func (s *Service) numWorklogs() int { return s.total(fWorklogs) }

// member picks a member of project p from the stream r.
func (s *Service) member(p int, r uint64) string {
	m := s.members[p]
	return s.users[m[r%uint64(len(m))]].id
}
