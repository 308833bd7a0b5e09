//! The problems of one run, shared by its source and sinks: any problem refuses the run, and
//! reading stops once `max_errors` are listed.
use std::sync::Mutex;

use crate::error::Problem;

#[derive(Debug)]
pub struct ProblemLog {
    max: usize,
    problems: Mutex<Vec<Problem>>,
}

impl ProblemLog {
    pub fn new(max_errors: usize) -> ProblemLog {
        ProblemLog {
            max: max_errors.max(1),
            problems: Mutex::new(Vec::new()),
        }
    }

    pub fn push(&self, problem: Problem) {
        let mut problems = self.problems.lock().expect("problem log");
        if problems.len() < self.max {
            problems.push(problem);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.problems.lock().expect("problem log").is_empty()
    }

    /// Enough listed: stop reading.
    pub fn is_full(&self) -> bool {
        self.problems.lock().expect("problem log").len() >= self.max
    }

    /// Append a note to the last problem if `matches` says it is the one.
    pub fn amend_last(&self, matches: impl Fn(&Problem) -> bool, note: &str) {
        let mut problems = self.problems.lock().expect("problem log");
        if let Some(last) = problems.last_mut().filter(|p| matches(p)) {
            last.message.push_str(note);
        }
    }

    pub fn take(&self) -> (Vec<Problem>, bool) {
        let problems = std::mem::take(&mut *self.problems.lock().expect("problem log"));
        let full = problems.len() >= self.max;
        (problems, full)
    }
}
