from pathlib import Path

import pytest
from conftest import RUBIO_SENTENCE, SEEDS

from qa.articles import Article, load_articles
from qa.errors import InputError
from qa.passages import sentence_at, sentence_spans, split_passages


def test_passage_offsets_map_back_to_the_article_exactly():
    article = load_articles([SEEDS])[0]
    passages = split_passages(article, target_words=60, overlap_sentences=1)
    assert len(passages) > 3
    for p in passages:
        assert article.text[p.start : p.end] == p.text
        assert p.article_id == article.id
    # Neighbours share exactly one sentence of overlap, and together they cover the text.
    sentences = set(sentence_spans(article.text))
    for a, b in zip(passages, passages[1:]):
        assert (b.start, a.end) in sentences, "consecutive passages overlap by exactly one whole sentence"
    assert passages[0].start == 0 and passages[-1].end == len(article.text.rstrip())


def test_offsets_hold_for_unicode_and_odd_whitespace():
    text = "Ünïcode café opened.  It served crêpes to Zoë Müller!\n\n\tThe mayor — Ana Núñez — came. Prices rose 5.5% in Jan. 2024."
    article = Article.from_text(text, title="t")
    for p in split_passages(article, target_words=8, overlap_sentences=1):
        assert text[p.start : p.end] == p.text


def test_the_sentence_of_an_answer_is_found():
    article = load_articles([SEEDS])[0]
    start = article.text.index("Marco Rubio")
    s0, s1 = sentence_at(article.text, start, start + len("Marco Rubio"))
    assert article.text[s0:s1] == RUBIO_SENTENCE


def test_a_heading_line_is_a_sentence_of_its_own():
    text = "Alaska summit produced no results\nThe last meeting was two months ago. It was in August."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Alaska summit produced no results",
        "The last meeting was two months ago.",
        "It was in August.",
    ]


def test_file_formats(tmp_path: Path):
    (tmp_path / "a.md").write_text("# A Markdown title\n\nSome body text about ships.\n")
    (tmp_path / "b.txt").write_text("Plain title\nThe body of the plain article.\n")
    (tmp_path / "c.jsonl").write_text(
        '{"text": "JSON body.", "title": "J", "date": "2025-01-02", "source": "Wire", "id": "J 1"}\n'
    )
    (tmp_path / "d.html").write_text(
        "<html><head><title>Harbour news</title></head><body><article><h1>Harbour news</h1>"
        "<p>The harbour in Kiel reopened on Monday after a storm closed it for three days, the port authority said.</p>"
        "<p>Ferries to Oslo resumed their normal schedule in the afternoon.</p></article></body></html>"
    )
    by_id = {a.id: a for a in load_articles([tmp_path])}
    assert by_id["a"].title == "A Markdown title" and by_id["a"].text == "Some body text about ships."
    assert by_id["b"].title == "Plain title"
    assert (by_id["J 1"].date, by_id["J 1"].source) == ("2025-01-02", "Wire")  # a JSONL id kept as given
    assert "Kiel reopened" in by_id["d"].text and by_id["d"].title == "Harbour news"
    # Stable ids: loading again gives the same ids and checksums.
    again = {a.id: a.checksum for a in load_articles([tmp_path])}
    assert again == {i: a.checksum for i, a in by_id.items()}


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: (d / "bad.txt").write_bytes(b"caf\xe9 \xff\xfe"), "not UTF-8"),
        (lambda d: (d / "empty").mkdir(), "holds no .txt"),
        (lambda d: (d / "x.jsonl").write_text("{not json}\n"), "line 1"),
        (lambda d: (d / "y.pdf").write_text("x"), "not a supported file"),
    ],
)
def test_bad_files_get_one_clear_sentence(tmp_path: Path, setup, message):
    setup(tmp_path)
    target = next(tmp_path.iterdir())
    with pytest.raises(InputError, match=message) as info:
        load_articles([target])
    assert "\n" not in str(info.value)


def test_dates_are_normalised_to_iso_and_unreadable_ones_kept_as_written():
    from qa.articles import is_iso_date, normalise_date

    assert normalise_date("2025-10-17") == "2025-10-17"
    assert normalise_date("17 October 2025") == "2025-10-17"
    assert normalise_date("Oct 17, 2025 14:30 UTC") == "2025-10-17T14:30+00:00"
    assert normalise_date("2025-10-17T08:00:00+02:00") == "2025-10-17T08:00+02:00"
    for raw in ("sometime soon", "yesterday"):  # relative dates mean nothing without the file's own date
        assert normalise_date(raw) == raw and not is_iso_date(raw)
    assert normalise_date("  ") is None and normalise_date(None) is None


def test_text_files_carry_their_date_source_and_url_in_front_matter_or_leading_lines(tmp_path: Path):
    (tmp_path / "a.md").write_text(
        "---\ndate: 17 October 2025\nsource: Wire\nurl: https://example.org/a\n---\n"
        "# Talks in Budapest\n\nThe talks will be held in Budapest.\n"
    )
    (tmp_path / "b.txt").write_text(
        "Harbour reopens\nDate: 2024-03-01\nSource: City Desk\n\nThe harbour reopened on Monday.\n"
    )
    (tmp_path / "c.txt").write_text("The mayor spoke on Friday.\nDate: this is text, not metadata\n")
    articles = {a.id: a for a in load_articles([tmp_path])}
    a, b, c = articles["a"], articles["b"], articles["c"]
    assert (a.title, a.date, a.source, a.url) == (
        "Talks in Budapest",
        "2025-10-17",
        "Wire",
        "https://example.org/a",
    )
    assert a.text == "The talks will be held in Budapest."
    assert (b.title, b.date, b.source, b.text) == (
        "Harbour reopens",
        "2024-03-01",
        "City Desk",
        "The harbour reopened on Monday.",
    )
    assert c.date is None and "Date: this is text" in c.text
