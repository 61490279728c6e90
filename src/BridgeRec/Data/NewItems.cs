namespace BridgeRec.Data;

/// <summary>
/// An item that was never in training, known by its text only: the LLM recommender's item tower ranks it from the
/// sentence embedding of <see cref="Text"/> next to the catalog (<c>LlmRecommender.ScoreNewItems</c>). Write the text
/// the way the catalog's items read (<see cref="ItemText.Render"/>, e.g. "Toy Story (1995), Animation, Children's").
/// </summary>
public sealed record NewItem(string Id, string Text);

/// <summary>
/// A file of new items: CSV or TSV (by the extension: .csv ',', .tsv/.tab TAB; else sniffed from the header) with a
/// header line naming the columns <c>item_id</c> and <c>text</c> (any order; further columns are ignored), then one item
/// per line. Fields may be quoted with '"' except in TSV (a doubled '"' is a literal quote), so texts may hold commas;
/// a field cannot span lines. Blank lines are skipped. Errors name the file, line and value.
/// </summary>
public static class NewItemsFile
{
    /// <summary>
    /// The items of <paramref name="path"/>, in file order. Ids must be non-empty, unique within the file and not ids of
    /// <paramref name="catalog"/>'s items (a new item needs a new id); texts must be non-empty.
    /// </summary>
    public static IReadOnlyList<NewItem> Read(string path, Dataset catalog)
    {
        var f = TextFile.Open(path, FileEncoding.Utf8, "new items file");
        var lines = f.Lines();
        List<string>? header = null;
        long headerLine = 0;
        char delim = '\0';
        int idCol = -1, textCol = -1;
        var items = new List<NewItem>();
        var firstLine = new Dictionary<string, long>(StringComparer.Ordinal);
        while (lines.MoveNext())
        {
            var bytes = lines.Current;
            if (TextFile.IsBlank(bytes)) continue;
            long n = lines.Number;
            string line = f.Text(n, bytes);
            if (header is null)
            {
                delim = GenericFormat.DelimiterOf(path, line);
                header = GenericFormat.Fields(f, n, line, delim);
                headerLine = n;
                idCol = header.FindIndex(h => Canonical(h) is "itemid" or "id" or "item");
                textCol = header.FindIndex(h => Canonical(h) == "text");
                if (idCol < 0 || textCol < 0)
                    throw new DataFormatException(path, n, idCol < 0 && textCol < 0 ? "missing header line" : $"no {(idCol < 0 ? "item_id" : "text")} column in the header", line,
                        $"a header line naming the columns item_id and text, e.g. 'item_id{(delim == '\t' ? "\\t" : delim.ToString())}text'");
                continue;
            }
            var fields = GenericFormat.Fields(f, n, line, delim);
            if (fields.Count == header.Count && fields.SequenceEqual(header, StringComparer.OrdinalIgnoreCase))
                throw new DataFormatException(path, n, "duplicate header line", line, $"the header only once (line {headerLine})");
            if (fields.Count != header.Count)
                throw new DataFormatException(path, n, $"wrong column count ({fields.Count})", line,
                    $"{header.Count} columns like the header (quote a text that holds '{(delim == '\t' ? "\\t" : delim.ToString())}')");
            string id = fields[idCol], text = fields[textCol];
            if (id.Length == 0) throw new DataFormatException(path, n, "empty item id", line, "an id for the new item");
            if (text.Length == 0) throw new DataFormatException(path, n, "empty text", line, $"the text of item '{id}'");
            if (!firstLine.TryAdd(id, n))
                throw new DataFormatException(path, n, "duplicate item id", id, $"each new item once (first at line {firstLine[id]})");
            if (catalog.Items.TryGet(id, out _))
                throw new DataFormatException(path, n, "item id already in the catalog", id,
                    $"an id that is none of the {catalog.Items.Count} items of {catalog.Name} (the model knows that item; a new item needs a new id)");
            items.Add(new NewItem(id, text));
        }
        if (header is null) throw f.Empty();
        if (items.Count == 0) throw f.NoDataAfterHeader(headerLine);
        return items;
    }

    static string Canonical(string name) => name.Trim().Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();
}
