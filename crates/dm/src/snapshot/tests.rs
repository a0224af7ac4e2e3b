use super::*;

#[test]
fn test_chunk_pieces_split_at_chunk_boundaries() {
    let cs = ChunkSize::new(8).unwrap();
    let v: Vec<_> = chunk_pieces(cs, Sectors(6), Sectors(12)).collect();
    assert_eq!(v, vec![(Sectors(0), Sectors(2), 0), (Sectors(2), Sectors(8), 1), (Sectors(10), Sectors(2), 2)]);
}

#[test]
fn test_coalesce_joins_only_contiguous_same_device() {
    let p = |off, len, place| Piece { off: Sectors(off), len: Sectors(len), chunk: 0, place };
    let pieces = [
        p(0, 8, Place::Cow(Sectors(16))),
        p(8, 8, Place::Cow(Sectors(24))),
        p(16, 8, Place::Origin(Sectors(16))),
        p(24, 8, Place::Cow(Sectors(40))),
    ];
    let out = coalesce(&pieces);
    assert_eq!(out.len(), 3);
    assert_eq!((out[0].len, out[0].place), (Sectors(16), Place::Cow(Sectors(16))));
}
