\set ok random(0, 3)
select stress.s_pick_provider();
select stress.s_mark(stress.s_gen());
select stress.s_webhook(stress.s_gen(), :ok, 1);
select stress.s_webhook(stress.s_gen(), 1, 1);
select stress.s_webhook(stress.s_gen(), 1, 2);
