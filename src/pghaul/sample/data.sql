-- Fills the sample schema. Parameters come as session settings: pghaul_sample.users and
-- pghaul_sample.memories (memories per user). Deterministic: setseed makes every run produce the same rows.
SELECT setseed(0.42);

INSERT INTO public.users (email, display_name, created_at, settings)
SELECT 'user' || g || '@example.com', 'User ' || g, now() - g * interval '1 day',
       jsonb_build_object('theme', CASE WHEN mod(g, 2) = 0 THEN 'dark' ELSE 'light' END, 'beta', mod(g, 5) = 0)
FROM generate_series(1, current_setting('pghaul_sample.users')::int) AS g;

INSERT INTO public.sessions (user_id, session_no, started_at, user_agent)
SELECT u.id, s, u.created_at + s * interval '1 hour', 'agent/' || s
FROM public.users u, generate_series(1, 3) AS s;

INSERT INTO public.conversations (id, user_id, title, created_at)
SELECT md5('conv' || u.id || '-' || c)::uuid, u.id, 'Conversation ' || c || E' about\ttabs and "quotes"',
       u.created_at + c * interval '1 minute'
FROM public.users u, generate_series(1, 4) AS c;

INSERT INTO public.messages (conversation_id, role, content, created_at)
SELECT c.id, (ARRAY['user', 'assistant']::public.message_role[])[1 + mod(m, 2)],
       repeat('message ' || m || E' with a\nnewline and a backslash \\ ', 1 + mod(m, 3)),
       c.created_at + m * interval '1 second'
FROM public.conversations c, generate_series(1, 5) AS m;

INSERT INTO public.persistent_memories (user_id, content, metadata, importance, embedding)
SELECT u.id, 'memory ' || k || ' of user ' || u.id,
       jsonb_build_object('source', 'chat', 'k', k),
       round(random()::numeric, 3)::real,
       (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 1536) AS d WHERE d > 0 * k * u.id)::vector
FROM public.users u, generate_series(1, current_setting('pghaul_sample.memories')::int) AS k;

INSERT INTO public.audit_log (happened_at, actor, action, details)
SELECT now() - g * interval '1 minute', 'user' || (mod(g, 7)), 'login', jsonb_build_object('ip', '10.0.0.' || mod(g, 250))
FROM generate_series(1, 300) AS g;
-- A duplicate row on purpose: a table without a key may hold them, and they must survive the move.
INSERT INTO public.audit_log (happened_at, actor, action) VALUES ('2024-01-01 00:00+00', 'system', 'boot'),
                                                                  ('2024-01-01 00:00+00', 'system', 'boot');
