\set u random(1, 20)
\set gpu random(0, 2)
select stress.s_create(:u, :gpu);
