package jiraexport

import "sort"

// Issue life cycle. Every issue walks the workflow To Do → In Progress →
// In Review → Done as far as its current status; a Done issue may have gone
// back from review once. Its status changes, its sprints and its parent are
// laid out when the service is built so that the bridge and changelog sets
// can be addressed by index and stay consistent with the Issues set.

// Indices into statuses.
const (
	stDone = iota
	stInReview
	stInProgress
	stToDo
)

// Indices into issueTypes.
const (
	tyStory = iota
	tyBug
	tyTask
	tyEpic
)

// lastSprint is the index within a project of the sprint containing dataNow
// (the active one); later sprints are future ones.
const lastSprint = int32((dataNow - dataEpoch) / sprintLen)

// issueLife is what the layout and the rows agree on about one issue.
type issueLife struct {
	status, typ       int
	created, updated  int64
	resolved          int64 // 0 unless status is Done
	bounced           bool  // a Done issue that went back from review once
	firstSprint, last int32 // sprint indices within the project; -1 = none
	points            float64
	hasPoints         bool
}

// life derives the life cycle of issue i. Resolution and last update never
// lie after dataNow: an issue whose resolution would is still in review.
func (s *Service) life(i int) issueLife {
	h := func(f uint64) uint64 { return s.h(domIssue, uint64(i), f) }
	l := issueLife{status: pick(h(6), 55, 65, 80), typ: pick(h(7), 40, 70, 95), created: s.issueCreated(i)}
	if l.status == stDone {
		l.resolved = l.created + 3600 + int64(h(11)%(60*86400))
		if l.resolved > dataNow {
			l.status, l.resolved = stInReview, 0
		}
	}
	if l.status == stDone {
		l.updated = min(l.resolved+int64(h(12)%(2*86400)), dataNow)
		l.bounced = h(17)%5 == 0
	} else {
		l.updated = min(l.created+3600+int64(h(12)%(30*86400)), dataNow)
		if l.status != stToDo && l.updated-l.created < 600 {
			l.status = stToDo // created minutes ago: nobody started it yet
		}
	}
	pr := h(13)
	switch {
	case l.typ == tyEpic: // epics are not estimated
	case l.typ == tyBug && pr%100 < 70: // most bugs are not estimated either
	case l.typ != tyBug && pr%100 < 15:
	case l.typ == tyTask && pr%100 < 20:
		l.hasPoints, l.points = true, 0.5
	default:
		l.hasPoints, l.points = true, fibonacci[(pr>>8)%uint64(len(fibonacci))]
	}
	l.firstSprint, l.last = -1, -1
	if l.typ != tyEpic && h(14)%4 != 0 {
		l.firstSprint = sprintOf(l.created)
		switch {
		case l.status == stDone:
			l.last = max(sprintOf(l.resolved), l.firstSprint)
		default: // carried over up to twice, then back to the backlog
			l.last = min(l.firstSprint+int32(h(18)%3), lastSprint)
		}
	}
	return l
}

// sprintOf is the index within a project of the sprint containing t.
func sprintOf(t int64) int32 { return min(int32((t-dataEpoch)/sprintLen), lastSprint) }

// changeCount is the number of status changes of an issue.
func (l *issueLife) changeCount() int {
	n := stToDo - l.status
	if l.bounced {
		n += 2
	}
	return n
}

// layoutIssues records, per issue, its numbers of sprint links and status
// changes (so that both sets are addressable by index, see packed.go), the
// epics of every project and the per-sprint totals of the reports.
func (s *Service) layoutIssues() {
	n := len(s.issueProj)
	s.epics = [numProjects][]int32{}
	s.sprintTotals = make([]sprintTotals, numProjects*sprintsPerProject)
	for i := range n {
		l := s.life(i)
		p := int(s.issueProj[i])
		s.setCount(fChanges, i, l.changeCount())
		if l.typ == tyEpic {
			s.epics[p] = append(s.epics[p], int32(i))
		}
		if l.firstSprint < 0 {
			continue
		}
		s.setCount(fLinks, i, int(l.last-l.firstSprint+1))
		for k := l.firstSprint; k <= l.last; k++ {
			st := &s.sprintTotals[p*sprintsPerProject+int(k)]
			st.committedIssues++
			if l.hasPoints {
				st.committedPoints += l.points
			}
		}
		if l.status == stDone {
			st := &s.sprintTotals[p*sprintsPerProject+int(l.last)]
			st.completedIssues++
			if l.hasPoints {
				st.completedPoints += l.points
			}
		}
	}
	s.buildCheckpoints()
}

// maxSprintsPerIssue bounds the sprints of one issue: a resolution at most
// 60 days and an hour after creation crosses at most 5 sprint boundaries.
const maxSprintsPerIssue = 6

// sprintIssues appends the issues in sprint id (1-based), in issue order.
// Issues are created in index order, so the candidates are those created
// from maxSprintsPerIssue-1 sprints before it to its end.
func (s *Service) sprintIssues(id int32, out []int) []int {
	p, k := int(id-1)/sprintsPerProject, int32(id-1)%sprintsPerProject
	if k > lastSprint {
		return out
	}
	n := len(s.issueProj)
	from := dataEpoch + int64(max(k-(maxSprintsPerIssue-1), 0))*sprintLen
	lo := sort.Search(n, func(i int) bool { return s.issueCreated(i) >= from })
	hi := n
	if k < lastSprint {
		to := dataEpoch + int64(k+1)*sprintLen
		hi = lo + sort.Search(n-lo, func(i int) bool { return s.issueCreated(lo+i) >= to })
	}
	for i := lo; i < hi; i++ {
		if int(s.issueProj[i]) != p || s.count(fLinks, i) == 0 {
			continue
		}
		if l := s.life(i); l.firstSprint <= k && k <= l.last {
			out = append(out, i)
		}
	}
	return out
}

// sprintTotals are the report figures of one sprint.
type sprintTotals struct {
	committedIssues, completedIssues int32
	committedPoints, completedPoints float64
}

// parentOf returns the epic issue i belongs to, if any: one of the up to
// four latest epics of its project created before it.
func (s *Service) parentOf(i int, typ int) (int, bool) {
	if typ == tyEpic {
		return 0, false
	}
	r := s.h(domIssue, uint64(i), 19)
	if r%10 < 4 {
		return 0, false
	}
	ep := s.epics[s.issueProj[i]]
	before := sort.Search(len(ep), func(k int) bool { return ep[k] >= int32(i) })
	if before == 0 {
		return 0, false
	}
	return int(ep[before-1-int((r>>8)%uint64(min(before, 4)))]), true
}
