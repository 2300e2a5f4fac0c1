/**
 * Chat replies through the `ai` package's client. `POST /v1/conversations/{id}/messages`
 * takes useChat's own body and answers in the AI SDK's UI message stream, so the SDK's
 * `DefaultChatTransport` is the whole integration: `chatTransport` points it at one
 * conversation with the caller's token. React: `useChat({ transport: chatTransport(...) })`;
 * without a framework: `new Chat({ ..., onChange })`.
 */
import {
  AbstractChat,
  DefaultChatTransport,
  type ChatInit,
  type ChatState,
  type ChatStatus,
  type UIMessage,
} from "ai";
import { resolveToken, trimSlash, type TokenSource } from "./auth";

/** What the API puts in a reply's `finish` part (`messageMetadata`). */
export interface ReplyMetadata {
  status?: string;
  credits_charged?: number;
  usage?: Record<string, unknown>;
}

export interface ChatOptions {
  baseUrl: string;
  token: TokenSource;
  conversationId: string;
}

export function chatTransport<M extends UIMessage = UIMessage>(options: ChatOptions): DefaultChatTransport<M> {
  const id = encodeURIComponent(options.conversationId);
  return new DefaultChatTransport<M>({
    api: `${trimSlash(options.baseUrl)}/v1/conversations/${id}/messages`,
    headers: async (): Promise<Record<string, string>> => {
      const token = await resolveToken(options.token);
      return token ? { authorization: `Bearer ${token}` } : {};
    },
  });
}

/** useChat without React: the SDK's chat, telling `onChange` after every change it makes. */
export class Chat<M extends UIMessage = UIMessage> extends AbstractChat<M> {
  constructor(init: ChatOptions & Omit<ChatInit<M>, "transport" | "id"> & { onChange: () => void }) {
    const { baseUrl, token, conversationId, onChange, messages, ...rest } = init;
    super({
      ...rest,
      id: conversationId,
      transport: chatTransport<M>({ baseUrl, token, conversationId }),
      state: new NotifyingState<M>(messages ?? [], onChange),
    });
  }
}

class NotifyingState<M extends UIMessage> implements ChatState<M> {
  #status: ChatStatus = "ready";
  #error: Error | undefined = undefined;
  #messages: M[];

  constructor(
    messages: M[],
    private readonly onChange: () => void,
  ) {
    this.#messages = messages;
  }

  get status(): ChatStatus {
    return this.#status;
  }
  set status(status: ChatStatus) {
    this.#status = status;
    this.onChange();
  }
  get error(): Error | undefined {
    return this.#error;
  }
  set error(error: Error | undefined) {
    this.#error = error;
    this.onChange();
  }
  get messages(): M[] {
    return this.#messages;
  }
  set messages(messages: M[]) {
    this.#messages = [...messages];
    this.onChange();
  }
  pushMessage = (message: M): void => {
    this.#messages = [...this.#messages, message];
    this.onChange();
  };
  popMessage = (): void => {
    this.#messages = this.#messages.slice(0, -1);
    this.onChange();
  };
  replaceMessage = (index: number, message: M): void => {
    // The SDK keeps mutating the message it streams into: a copy makes each text a new value.
    this.#messages = this.#messages.map((m, i) => (i === index ? this.snapshot(message) : m));
    this.onChange();
  };
  snapshot = <T>(thing: T): T => structuredClone(thing);
}
