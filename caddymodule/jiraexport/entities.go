package jiraexport

import (
	"strconv"
)

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

type issueRow struct {
	key, summary, status, typ, priority, project, assignee, reporter string
	created, updated, resolved                                       int64
	hasResolved, hasPoints, hasSprint                                bool
	points                                                           float64
	sprint                                                           int32
	labels                                                           []string
}

// issueCreated is the creation time of issue i: spread evenly over the span.
func (s *Service) issueCreated(i int) int64 {
	n := int64(len(s.issueProj))
	step := max(int64(dataSpan)/n, 1)
	return dataEpoch + int64(i)*dataSpan/n + int64(s.h(domIssue, uint64(i), 2)%uint64(step))
}

func (s *Service) loadIssue(i int, r *issueRow) {
	h := func(f uint64) uint64 { return s.h(domIssue, uint64(i), f) }
	p := int(s.issueProj[i])
	r.key = s.issueKey(i)
	r.summary = summaryVerbs[h(3)%uint64(len(summaryVerbs))] + " " +
		summaryObjects[h(4)%uint64(len(summaryObjects))] + summaryQuals[h(5)%uint64(len(summaryQuals))]
	st := pick(h(6), 55, 65, 80)
	r.status = statuses[st]
	ty := pick(h(7), 40, 70, 95)
	r.typ = issueTypes[ty]
	r.priority = priorities[pick(h(8), 5, 25, 75, 90)]
	r.project = projectDefs[p].key
	r.assignee = s.member(p, h(9))
	r.reporter = s.member(p, h(10))
	r.created = s.issueCreated(i)
	r.hasResolved = st == 0
	r.resolved = 0
	if r.hasResolved {
		r.resolved = r.created + 3600 + int64(h(11)%(60*86400))
		r.updated = r.resolved + int64(h(12)%(2*86400))
	} else {
		r.updated = r.created + int64(h(12)%(30*86400))
	}
	pr := h(13)
	r.hasPoints, r.points = false, 0
	switch {
	case ty == 3: // epics are not estimated
	case ty == 1 && pr%100 < 70: // most bugs are not estimated either
	case ty != 1 && pr%100 < 15:
	case ty == 2 && pr%100 < 20:
		r.hasPoints, r.points = true, 0.5
	default:
		r.hasPoints, r.points = true, fibonacci[(pr>>8)%uint64(len(fibonacci))]
	}
	r.hasSprint, r.sprint = false, 0
	if ty != 3 && h(14)%4 != 0 {
		k := min((r.created-dataEpoch)/sprintLen, 52)
		r.hasSprint, r.sprint = true, int32(p*sprintsPerProject)+int32(k)+1
	}
	var mask int
	for c, lr := h(15)%4, h(16); c > 0; c-- {
		mask |= 1 << (lr % uint64(len(labelNames)))
		lr = mix(lr)
	}
	r.labels = labelSets[mask]
}

func (s *Service) issuesTable() *table[issueRow] {
	return &table[issueRow]{
		name: "Issues", typeName: "Issue", key: 0,
		cols: []column[issueRow]{
			{"Key", edmString, false, func(r *issueRow) value { return str(r.key) }},
			{"Summary", edmString, false, func(r *issueRow) value { return str(r.summary) }},
			{"Status", edmString, false, func(r *issueRow) value { return str(r.status) }},
			{"Type", edmString, false, func(r *issueRow) value { return str(r.typ) }},
			{"Priority", edmString, false, func(r *issueRow) value { return str(r.priority) }},
			{"ProjectKey", edmString, false, func(r *issueRow) value { return str(r.project) }},
			{"Assignee", edmString, false, func(r *issueRow) value { return str(r.assignee) }},
			{"Reporter", edmString, false, func(r *issueRow) value { return str(r.reporter) }},
			{"Created", edmDateTimeOffset, false, func(r *issueRow) value { return tim(r.created) }},
			{"Updated", edmDateTimeOffset, false, func(r *issueRow) value { return tim(r.updated) }},
			{"Resolved", edmDateTimeOffset, true, func(r *issueRow) value { return optTime(r.hasResolved, r.resolved) }},
			{"StoryPoints", edmDouble, true, func(r *issueRow) value { return optNum(r.hasPoints, r.points) }},
			{"SprintId", edmInt32, true, func(r *issueRow) value { return optNum(r.hasSprint, float64(r.sprint)) }},
			{"Labels", edmStringCollection, false, func(r *issueRow) value { return strs(r.labels) }},
		},
		size:    func() int { return len(s.issueProj) },
		visible: func(v *viewer, i int) bool { return v.member(int(s.issueProj[i])) },
		load:    s.loadIssue,
		find:    func(k value) (int, bool) { return s.findIssue(k.s) },
	}
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
		load: func(j int, r *worklogRow) {
			i := s.worklogIssue(j)
			h := func(f uint64) uint64 { return s.h(domWorklog, uint64(j), f) }
			r.id = int64(j) + 1
			r.issue = s.issueKey(i)
			r.author = s.member(int(s.issueProj[i]), h(0))
			r.started = s.issueCreated(i) + int64(h(1)%(10*86400))
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
