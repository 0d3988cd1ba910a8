-- The sample application's schema: an AI chat app that keeps long-term memories as embeddings.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TYPE public.message_role AS ENUM ('system', 'user', 'assistant', 'tool');

CREATE TABLE public.users (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    display_name text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    settings    jsonb NOT NULL DEFAULT '{}'
);

-- A session is identified by its user and a per-user number: a composite primary key.
CREATE TABLE public.sessions (
    user_id     bigint NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    session_no  integer NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    user_agent  text,
    PRIMARY KEY (user_id, session_no)
);

CREATE TABLE public.conversations (
    id          uuid PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES public.users (id),
    title       text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES public.conversations (id) ON DELETE CASCADE,
    role            public.message_role NOT NULL,
    content         text NOT NULL,
    tokens          integer GENERATED ALWAYS AS (length(content) / 4) STORED,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation_idx ON public.messages (conversation_id, created_at);

CREATE TABLE public.persistent_memories (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES public.users (id),
    content     text NOT NULL,
    metadata    jsonb,
    importance  real CHECK (importance BETWEEN 0 AND 1),
    embedding   vector(1536) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX persistent_memories_embedding_idx ON public.persistent_memories
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX persistent_memories_user_idx ON public.persistent_memories (user_id);

-- No primary key: an append-only audit trail, as many real applications have.
CREATE TABLE public.audit_log (
    happened_at timestamptz NOT NULL DEFAULT now(),
    actor       text,
    action      text NOT NULL,
    details     jsonb
);

CREATE VIEW public.user_stats AS
SELECT u.id, u.email, count(DISTINCT c.id) AS conversations, count(m.id) AS messages
FROM public.users u
LEFT JOIN public.conversations c ON c.user_id = u.id
LEFT JOIN public.messages m ON m.conversation_id = c.id
GROUP BY u.id, u.email;
