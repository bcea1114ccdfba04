package jiraexport

import "strconv"

var (
	summaryVerbs   = []string{"Fix", "Improve", "Add", "Remove", "Refactor", "Investigate", "Document", "Migrate"}
	summaryObjects = []string{"login page", "export job", "user's profile", "payment flow", "search index", "build pipeline", "Zürich office VPN", "release notes", "API rate limit", `dashboard "Sales"`, "sprint report", "audit log"}
	summaryQuals   = []string{"", " on mobile", " for admins", " after upgrade", " in Safari", " under load"}
	statuses       = []string{"Done", "In Review", "In Progress", "To Do"}
	issueTypes     = []string{"Story", "Bug", "Task", "Epic"}
	priorities     = []string{"Highest", "High", "Medium", "Low", "Lowest"}
	fibonacci      = []float64{1, 2, 3, 5, 8, 13}
	labelNames     = []string{"backend", "frontend", "customer", "regression", "tech-debt", "security"}
	worklogNotes   = []string{"Implementation", "Code review", "Testing", "Meeting", "Investigation", "Deployment"}
	sprintStates   = []string{"closed", "active", "future"}
)

// labelSets holds every subset of labelNames, so rows share label slices.
var labelSets = func() (sets [64][]string) {
	for m := range sets {
		sets[m] = []string{}
		for b, l := range labelNames {
			if m&(1<<b) != 0 {
				sets[m] = append(sets[m], l)
			}
		}
	}
	return sets
}()

func pick(r uint64, thresholds ...uint64) int {
	r %= 100
	for i, t := range thresholds {
		if r < t {
			return i
		}
	}
	return len(thresholds)
}

type projectRow struct {
	key, name, category, lead string
	issues                    int32
}

func (s *Service) projectsTable() *table[projectRow] {
	return &table[projectRow]{
		name: "Projects", typeName: "Project", key: 0,
		cols: []column[projectRow]{
			{"Key", edmString, false, func(r *projectRow) value { return str(r.key) }},
			{"Name", edmString, false, func(r *projectRow) value { return str(r.name) }},
			{"Category", edmString, false, func(r *projectRow) value { return str(r.category) }},
			{"Lead", edmString, false, func(r *projectRow) value { return str(r.lead) }},
			{"IssueCount", edmInt32, false, func(r *projectRow) value { return num(float64(r.issues)) }},
		},
		size:    func() int { return numProjects },
		visible: func(v *viewer, i int) bool { return v.member(i) },
		navs: []navigation[projectRow]{
			{name: "LeadUser", target: "Users", refs: ref("Lead", "Id"),
				link: func(r *projectRow, out []int) []int { return s.userLink(r.lead, out) }},
		},
		load: func(i int, r *projectRow) {
			d := projectDefs[i]
			*r = projectRow{d.key, d.name, d.category, s.member(i, s.h(domProject, uint64(i), 0)), s.projIssueCount[i]}
		},
		find: func(k value) (int, bool) {
			for i, d := range projectDefs {
				if d.key == k.s {
					return i, true
				}
			}
			return 0, false
		},
	}
}

type sprintRow struct {
	id            int32
	name, project string
	state         string
	start, end    int64
}

func (s *Service) sprintsTable() *table[sprintRow] {
	return &table[sprintRow]{
		name: "Sprints", typeName: "Sprint", key: 0,
		cols: []column[sprintRow]{
			{"Id", edmInt32, false, func(r *sprintRow) value { return num(float64(r.id)) }},
			{"Name", edmString, false, func(r *sprintRow) value { return str(r.name) }},
			{"ProjectKey", edmString, false, func(r *sprintRow) value { return str(r.project) }},
			{"State", edmString, false, func(r *sprintRow) value { return str(r.state) }},
			{"StartDate", edmDateTimeOffset, false, func(r *sprintRow) value { return tim(r.start) }},
			{"EndDate", edmDateTimeOffset, false, func(r *sprintRow) value { return tim(r.end) }},
		},
		size:    func() int { return numProjects * sprintsPerProject },
		visible: func(v *viewer, i int) bool { return v.member(i / sprintsPerProject) },
		navs: []navigation[sprintRow]{
			{name: "Project", target: "Projects", refs: ref("ProjectKey", "Key"),
				link: func(r *sprintRow, out []int) []int { return append(out, int(r.id-1)/sprintsPerProject) }},
			{name: "Issues", target: "Issues", many: true, partner: "Sprints",
				link: func(r *sprintRow, out []int) []int { return s.sprintIssues(r.id, out) }},
		},
		load: func(i int, r *sprintRow) {
			p, k := i/sprintsPerProject, i%sprintsPerProject
			r.id = int32(i + 1)
			r.project = projectDefs[p].key
			r.name = r.project + " Sprint " + strconv.Itoa(k+1)
			r.start = dataEpoch + int64(k)*sprintLen
			r.end = r.start + sprintLen
			switch {
			case r.end <= dataNow:
				r.state = sprintStates[0]
			case r.start <= dataNow:
				r.state = sprintStates[1]
			default:
				r.state = sprintStates[2]
			}
		},
		find: func(k value) (int, bool) {
			i := int(k.n) - 1
			return i, float64(i+1) == k.n && i >= 0 && i < numProjects*sprintsPerProject
		},
	}
}

type worklogRow struct {
	issueIdx               int
	id                     int64
	issue, author, comment string
	started                int64
	seconds                int32
}

func (s *Service) worklogsTable() *table[worklogRow] {
	return &table[worklogRow]{
		name: "Worklogs", typeName: "Worklog", key: 0,
		cols: []column[worklogRow]{
			{"Id", edmInt64, false, func(r *worklogRow) value { return num(float64(r.id)) }},
			{"IssueKey", edmString, false, func(r *worklogRow) value { return str(r.issue) }},
			{"Author", edmString, false, func(r *worklogRow) value { return str(r.author) }},
			{"Started", edmDateTimeOffset, false, func(r *worklogRow) value { return tim(r.started) }},
			{"TimeSpentSeconds", edmInt32, false, func(r *worklogRow) value { return num(float64(r.seconds)) }},
			{"Comment", edmString, false, func(r *worklogRow) value { return str(r.comment) }},
		},
		size:    s.numWorklogs,
		visible: func(v *viewer, j int) bool { return v.member(int(s.issueProj[s.worklogIssue(j)])) },
		navs: []navigation[worklogRow]{
			{name: "Issue", target: "Issues", partner: "Worklogs", refs: ref("IssueKey", "Key"),
				link: func(r *worklogRow, out []int) []int { return append(out, r.issueIdx) }},
			{name: "AuthorUser", target: "Users", refs: ref("Author", "Id"),
				link: func(r *worklogRow, out []int) []int { return s.userLink(r.author, out) }},
		},
		load: func(j int, r *worklogRow) {
			i := s.worklogIssue(j)
			r.issueIdx = i
			h := func(f uint64) uint64 { return s.h(domWorklog, uint64(j), f) }
			r.id = int64(j) + 1
			r.issue = s.issueKey(i)
			r.author = s.member(int(s.issueProj[i]), h(0))
			r.started = min(s.issueCreated(i)+int64(h(1)%(10*86400)), dataNow)
			r.seconds = int32(1+h(2)%16) * 900
			r.comment = worklogNotes[h(3)%uint64(len(worklogNotes))]
		},
		find: func(k value) (int, bool) {
			j := int(k.n) - 1
			return j, float64(j+1) == k.n && j >= 0 && j < s.numWorklogs()
		},
	}
}

func (s *Service) usersTable() *table[userRec] {
	return &table[userRec]{
		name: "Users", typeName: "User", key: 0,
		cols: []column[userRec]{
			{"Id", edmString, false, func(r *userRec) value { return str(r.id) }},
			{"DisplayName", edmString, false, func(r *userRec) value { return str(r.display) }},
			{"Email", edmString, false, func(r *userRec) value { return str(r.email) }},
			{"Active", edmBoolean, false, func(r *userRec) value { return boolean(r.active) }},
		},
		size:    func() int { return len(s.users) },
		visible: func(*viewer, int) bool { return true },
		load:    func(i int, r *userRec) { *r = s.users[i] },
		find: func(k value) (int, bool) {
			i, ok := s.userIdx[k.s]
			return i, ok
		},
	}
}
