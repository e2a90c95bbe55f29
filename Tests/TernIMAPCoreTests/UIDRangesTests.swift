import Testing

@testable import TernIMAPCore

@Suite("UID ranges")
struct UIDRangesTests {
    @Test("ascending UIDs make one range; gaps make more")
    func runs() {
        #expect(UIDRanges(1...100_000).ranges == [1...100_000])
        #expect(UIDRanges([1, 2, 3, 7, 8, 10]).ranges == [1...3, 7...8, 10...10])
    }

    @Test("inserting in any order joins neighbours, at the ends of UInt32 too")
    func joins() {
        var set = UIDRanges([5, 1, 3])
        #expect(set.ranges == [1...1, 3...3, 5...5])
        set.insert(2)
        #expect(set.ranges == [1...3, 5...5])
        set.insert(4)
        #expect(set.ranges == [1...5])
        set.insert(3)
        #expect(set.ranges == [1...5])
        set.formUnion([.max, 0, .max - 1])
        #expect(set.ranges == [0...5, .max - 1 ... .max])
        #expect(set.count == 8)
    }

    @Test("agrees with a Set on random UIDs")
    func model() {
        var generator = SystemRandomNumberGenerator()
        var set = UIDRanges()
        var model = Set<UInt32>()
        for _ in 0..<5_000 {
            let uid = UInt32.random(in: 0...2_000, using: &generator)
            set.insert(uid)
            model.insert(uid)
        }
        #expect(set.count == model.count)
        #expect((0...2_001).allSatisfy { set.contains($0) == model.contains($0) })
        #expect(zip(set.ranges, set.ranges.dropFirst()).allSatisfy { $0.upperBound + 1 < $1.lowerBound })
    }

    @Test("removal keeps whole ranges without visiting them and splits the others")
    func removal() {
        var set = UIDRanges([1, 2, 3, 4, 5, 10, 11, 12])
        var visited: [UInt32] = []
        set.removeAll(keepingWhole: { $0 == 10...12 }, keeping: { visited.append($0); return $0 != 3 })
        #expect(set.ranges == [1...2, 4...5, 10...12])
        #expect(visited == [1, 2, 3, 4, 5])
        set.removeAll(keepingWhole: { _ in false }, keeping: { _ in false })
        #expect(set.isEmpty && !set.contains(1))
    }
}
