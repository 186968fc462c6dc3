-- Timers are keyed per run: (run_id, timer_id).
--
-- The core derives timer ids from the step, the timer kind and the attempt
-- (`pause/delay/1`), which is unique within a run only; with `timer_id` as the table's
-- whole key, two runs of one workflow overwrote each other's timers (the upsert moved the
-- row to the other run, a cancel deleted the other run's timer). Keying the table by run
-- keeps the ids in the event log as they are (recorded histories stay valid) and makes
-- every write name the run it means. Existing rows are unique by timer_id, so they are
-- unique by (run_id, timer_id) too.
ALTER TABLE timers DROP CONSTRAINT timers_pkey;
ALTER TABLE timers ADD CONSTRAINT timers_pkey PRIMARY KEY (run_id, timer_id);
-- The primary key now leads with run_id: it serves lookups by run.
DROP INDEX timers_by_run;
