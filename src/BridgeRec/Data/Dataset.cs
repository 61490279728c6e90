namespace BridgeRec.Data;

/// <summary>The text known about one item: a title plus named fields (year, genres, brand ...).</summary>
public sealed record ItemText(string Title, IReadOnlyList<KeyValuePair<string, string>> Fields)
{
    public static ItemText Of(string title, params (string Name, string Value)[] fields) =>
        new(title, fields.Where(f => !string.IsNullOrWhiteSpace(f.Value))
                         .Select(f => new KeyValuePair<string, string>(f.Name, f.Value)).ToList());

    public string? this[string field] => Fields.FirstOrDefault(f => f.Key == field).Value;

    /// <summary>"Title, field1, field2": the item as a language model will read it (a field already in the title, such as the year, is not repeated).</summary>
    public string Render()
    {
        var extra = Fields.Where(f => !Title.Contains(f.Value, StringComparison.OrdinalIgnoreCase)).Select(f => f.Value).ToList();
        return extra.Count == 0 ? Title : Title + ", " + string.Join(", ", extra);
    }
}

/// <summary>
/// Users, items and interactions of one dataset with contiguous ids (maps back to the original
/// ids), plus optional item text. Splits hold the train / validation / test parts.
/// </summary>
public sealed class Dataset(string name, IdMap users, IdMap items, Interactions interactions, ItemText?[]? itemTexts = null)
{
    public string Name { get; } = name;
    public IdMap Users { get; } = users;
    public IdMap Items { get; } = items;
    public Interactions Interactions { get; } = interactions;
    /// <summary>Text per item index (null entries where an item has none); empty when the format has no text.</summary>
    public ItemText?[] ItemTexts { get; } = itemTexts ?? [];
    public int NumUsers => Users.Count;
    public int NumItems => Items.Count;

    public ItemText? TextOf(int item) => item < ItemTexts.Length ? ItemTexts[item] : null;

    /// <summary>Display name of an item: its title where known, else its original id.</summary>
    public string DisplayName(int item) => TextOf(item)?.Title ?? Items.Original(item);

    public override string ToString() =>
        $"{Name}: {NumUsers:N0} users, {NumItems:N0} items, {Interactions.Count:N0} interactions";
}

/// <summary>Train / validation / test interactions over one dataset's ids. Validation may be empty.</summary>
public sealed class Split(Dataset dataset, Interactions train, Interactions validation, Interactions test, string description)
{
    public Dataset Dataset { get; } = dataset;
    public Interactions Train { get; } = train;
    public Interactions Validation { get; } = validation;
    public Interactions Test { get; } = test;
    public string Description { get; } = description;

    public override string ToString() =>
        $"{Dataset.Name} [{Description}]: train {Train.Count:N0}, validation {Validation.Count:N0}, test {Test.Count:N0}";
}
