select stress.s_sweep();
select stress.s_sweep2();
