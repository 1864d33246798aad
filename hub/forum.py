"""A forum: anyone posts a topic, anyone replies, and the pages show authors by their names.

Authors are accounts; the pages show them through the names registry (`@alice`), looked up
when the page is rendered, so a newly registered name shows on old posts too.

Pages (`render(path)`):

- `""` or `page/N`: the newest posts, 20 a page;
- `post/ID`: a post with its replies.
"""
import std
from hub.amigos import names

MAX_TITLE = 100
MAX_BODY = 4000
PAGE_SIZE = 20
MAX_REPLIES = 100
"""Replies a post can have: its page shows them all, so they are bounded like the page."""

posts = std.Map()          # id -> {"author", "title", "body", "time"}, never changed
reply_counts = std.Map()   # id -> number of replies: apart from the post, so that a reply
                           # rewrites a small number, not the whole post
replies = std.Map()        # (post id, reply number) -> {"author", "body", "time"}
post_count = 0


def post(title: str, body: str) -> int:
    """Start a topic and return its id."""
    global post_count
    std.require(_is_text(title, MAX_TITLE) and "\n" not in title,
                f"a title is one line of 1 to {MAX_TITLE} characters")
    std.require(_is_text(body, MAX_BODY), f"a body is text of 1 to {MAX_BODY} characters")
    post_count += 1
    posts[post_count] = {"author": std.caller(), "title": title, "body": body, "time": std.time()}
    std.emit("posted", id=post_count, author=std.caller(), title=title)
    return post_count


def reply(post_id: int, body: str) -> int:
    """Reply to the post `post_id`; return the reply's number under that post."""
    _get(post_id)
    std.require(_is_text(body, MAX_BODY), f"a body is text of 1 to {MAX_BODY} characters")
    number = reply_counts.get(post_id, 0) + 1
    std.require(number <= MAX_REPLIES, f"post {post_id} has the most replies a post can have")
    reply_counts[post_id] = number
    replies[(post_id, number)] = {"author": std.caller(), "body": body, "time": std.time()}
    std.emit("replied", post=post_id, number=number, author=std.caller())
    return number


def get_post(post_id: int) -> dict:
    """The post `post_id`: author, title, body, time and number of replies."""
    return {**_get(post_id), "replies": reply_counts.get(post_id, 0)}


def get_replies(post_id: int, start: int = 1, limit: int = 50) -> list:
    """Up to `limit` replies to `post_id`, from reply number `start` on."""
    _get(post_id)
    std.require(isinstance(start, int) and isinstance(limit, int) and 0 < limit <= 100,
                "start is an int and limit an int from 1 to 100")
    # Keys are ordered (post id, number): stop where the next post's replies begin.
    return [entry for (topic_id, _), entry in replies.items((post_id, start), limit) if topic_id == post_id]


def render(path: str) -> str:
    """The index (`""`, `page/N`) or one post with its replies (`post/ID`)."""
    if path == "":
        return _index(1)
    kind, _, arg = path.partition("/")
    number = _number(arg)
    if kind == "page" and number > 0:
        return _index(number)
    if kind == "post" and number in posts:
        return _topic(number)
    return "# Not found\n\n[Back to the forum](?path=)\n"


def _index(page: int) -> str:
    lines = ["# Forum", ""]
    newest = post_count - (page - 1) * PAGE_SIZE
    for post_id in range(newest, max(newest - PAGE_SIZE, 0), -1):
        topic = posts[post_id]
        count = reply_counts.get(post_id, 0)
        lines.append(f"- [{_escape(topic['title'])}](?path=post/{post_id}) by "
                     f"{_escape(names.display_name(topic['author']))}, {count} {'reply' if count == 1 else 'replies'}")
    if newest <= 0:
        lines.append("No posts here yet.")
    if newest - PAGE_SIZE > 0:
        lines.extend(["", f"[Older posts](?path=page/{page + 1})"])
    return "\n".join(lines) + "\n"


def _topic(post_id: int) -> str:
    topic = posts[post_id]
    lines = [f"# {_escape(topic['title'])}", "",
             f"by {_escape(names.display_name(topic['author']))}", "", _quote(topic["body"])]
    for entry in get_replies(post_id, 1, MAX_REPLIES):
        lines.extend(["", f"**{_escape(names.display_name(entry['author']))}** replied:", "",
                      _quote(entry["body"])])
    lines.extend(["", "[Back to the forum](?path=)"])
    return "\n".join(lines) + "\n"


def _number(text: str) -> int:
    """The positive number `text` spells in ASCII digits, else 0."""
    if text.isascii() and text.isdigit() and len(text) < 10:
        return int(text)
    return 0


def _get(post_id: int) -> dict:
    std.require(isinstance(post_id, int) and not isinstance(post_id, bool) and post_id in posts,
                f"no post {post_id!r}")
    return posts[post_id]


def _is_text(text: str, limit: int) -> bool:
    return isinstance(text, str) and 0 < len(text.strip()) and len(text) <= limit


def _quote(text: str) -> str:
    """`text` as a Markdown block quote: whatever it holds stays inside the quote."""
    return "\n".join("> " + line for line in text.splitlines())


def _escape(text: str) -> str:
    """`text` with Markdown punctuation escaped, so a title cannot become a link or a heading."""
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!<>|" else c for c in text)
