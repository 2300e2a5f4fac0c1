\set w random(1, 4)
\set outcome random(0, 4)
select stress.s_claim(:w);
select stress.s_heartbeat(:w, stress.s_task());
select stress.s_finish(:w, stress.s_task(), :outcome);
