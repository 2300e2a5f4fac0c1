select stress.s_cancel();
